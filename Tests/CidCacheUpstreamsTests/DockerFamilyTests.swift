import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class DockerFamilyTests: XCTestCase {
    private let family = DockerFamily()

    func testDockerHostBecomesABaseURL() throws {
        XCTAssertEqual(family.effectiveBaseURL("unix:///run/user/1000/docker.sock"), "http+unix://%2Frun%2Fuser%2F1000%2Fdocker.sock")
        XCTAssertEqual(family.effectiveBaseURL("/tmp/my dir/d.sock"), "http+unix://%2Ftmp%2Fmy%20dir%2Fd.sock")
        XCTAssertEqual(family.effectiveBaseURL("tcp://10.0.0.5:2376"), "http://10.0.0.5:2376")
        XCTAssertEqual(family.effectiveBaseURL("tcp://docker-host"), "http://docker-host:2375")
        XCTAssertEqual(family.effectiveBaseURL("http://127.0.0.1:2375"), "http://127.0.0.1:2375")
    }

    func testEngineAPIRequestsOverAUnixSocket() throws {
        let socket = Endpoint(baseURL: family.effectiveBaseURL("unix:///var/run/docker.sock"), credential: nil)
        func call(_ op: String, _ text: String) throws -> UpstreamHTTPRequest {
            let request = try object(text)
            try family[op: op].validate(request)
            return try family[op: op].httpRequest(request, body: [], endpoint: socket)
        }
        let base = "http+unix://%2Fvar%2Frun%2Fdocker.sock/v1.43"
        let inspect = try call("images.inspect", #"{"name":"ghcr.io/owner/repo:1.0"}"#)
        XCTAssertEqual(inspect.method, "GET")
        XCTAssertEqual(inspect.url, base + "/images/ghcr.io/owner/repo:1.0/json")
        XCTAssertEqual(inspect.header("host"), "localhost")
        XCTAssertNil(inspect.body)
        XCTAssertEqual(try call("images.inspect", #"{"name":"alpine@sha256:abc"}"#).url, base + "/images/alpine@sha256:abc/json")
        XCTAssertEqual(try call("images.history", #"{"name":"ubuntu:22.04"}"#).url, base + "/images/ubuntu:22.04/history")
        XCTAssertEqual(try call("images.search", #"{"term":"postgres db","limit":5}"#).url, base + "/images/search?term=postgres%20db&limit=5")
        XCTAssertEqual(try call("containers.inspect", #"{"id":"abc123","size":true}"#).url, base + "/containers/abc123/json?size=true")
        XCTAssertEqual(try call("containers.list", #"{"all":true,"filters":{"status":["running"]}}"#).url,
                       base + "/containers/json?all=true&filters=%7B%22status%22%3A%5B%22running%22%5D%7D")
        XCTAssertEqual(try call("containers.list", #"{"filters":"{\"label\":[\"a=b\"]}"}"#).url,
                       base + "/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")
        XCTAssertEqual(try call("containers.list", "{}").url, base + "/containers/json")
        XCTAssertEqual(try call("volumes.inspect", #"{"name":"my_vol.1"}"#).url, base + "/volumes/my_vol.1")
        XCTAssertEqual(try call("networks.inspect", #"{"id":"bridge","verbose":false,"scope":"local"}"#).url,
                       base + "/networks/bridge?verbose=false&scope=local")

        let tcp = Endpoint(baseURL: family.effectiveBaseURL("tcp://127.0.0.1:2375"), credential: nil, settings: ["api_version": "1.41"])
        let overTCP = try family[op: "volumes.inspect"].httpRequest(["name": "v"], body: [], endpoint: tcp)
        XCTAssertEqual(overTCP.url, "http://127.0.0.1:2375/v1.41/volumes/v")
        XCTAssertNil(overTCP.header("host"))
    }

    func testValidation() throws {
        for (op, text) in [("images.inspect", "{}"), ("images.inspect", #"{"name":""}"#), ("images.inspect", #"{"name":"../../x"}"#),
                           ("images.inspect", #"{"name":"a b"}"#), ("images.inspect", #"{"name":"x","extra":1}"#),
                           ("images.search", #"{"term":"x","limit":0}"#), ("containers.list", #"{"all":"yes"}"#),
                           ("containers.inspect", #"{"id":"a//b"}"#), ("registry.tags", "{}"),
                           ("registry.tags", #"{"repository":"x","registry":"host/path"}"#),
                           ("registry.tags", #"{"repository":"x","registry":"ftp://h"}"#)] {
            XCTAssertThrowsError(try family[op: op].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, text)
            }
        }
        XCTAssertNoThrow(try family[op: "registry.tags"].validate(try object(#"{"repository":"o/r","registry":"http://127.0.0.1:5000","n":10,"last":"v1"}"#)))
        XCTAssertNoThrow(try family[op: "registry.tags"].validate(try object(#"{"repository":"ubuntu","registry":"ghcr.io"}"#)))
    }

    /// What the Engine answers with a 500 (read as a server fault, retried) is refused here: EINVAL, no call.
    func testReferencesAndFiltersTheEngineWouldRefuse() throws {
        for (op, text) in [("images.inspect", #"{"name":"Ubuntu:22.04"}"#), ("images.history", #"{"name":"ghcr.io/Owner/app"}"#),
                           ("images.inspect", #"{"name":"a..b"}"#), ("registry.tags", #"{"repository":"Library/x"}"#),
                           ("containers.list", #"{"filters":"{not json"}"#), ("containers.list", #"{"filters":"[1]"}"#),
                           ("images.search", #"{"term":"x","filters":{"is-official":"true"}}"#)] {
            XCTAssertThrowsError(try family[op: op].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, text)
            }
        }
        for (op, text) in [("images.inspect", #"{"name":"GHCR.io:5000/owner/app_x__y-z.v2:Tag_1@sha256:abc"}"#),
                           ("images.inspect", #"{"name":"sha256:0123abcd"}"#), ("images.history", #"{"name":"localhost/a/b"}"#),
                           ("containers.list", #"{"filters":"{\"label\":[\"a=b\"]}"}"#),
                           ("containers.list", #"{"filters":{"status":["running"],"dangling":{"true":true}}}"#)] {
            XCTAssertNoThrow(try family[op: op].validate(try object(text)), text)
        }
    }

    func testTTLs() {
        let expected = ["images.inspect": 1800, "images.history": 3600, "images.search": 600, "containers.inspect": 30,
                        "containers.list": 30, "volumes.inspect": 300, "networks.inspect": 300, "registry.tags": 1800]
        for op in family.operations { XCTAssertEqual(family[op: op].defaultTTL([:]), expected[op], op) }
        XCTAssertEqual(Set(family.operations), Set(expected.keys))
    }

    // MARK: Registry handshake

    func testBearerChallengeParsing() throws {
        let challenge = try XCTUnwrap(DockerFamily.parseChallenge(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push""#))
        XCTAssertEqual(challenge.scheme, "bearer")
        XCTAssertEqual(challenge.parameters, ["realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                                              "scope": "repository:library/ubuntu:pull,push"])
        let spaced = try XCTUnwrap(DockerFamily.parseChallenge(#"bearer  realm="http://127.0.0.1:9/t" , service=local,scope="a\"b""#))
        XCTAssertEqual(spaced.parameters, ["realm": "http://127.0.0.1:9/t", "service": "local", "scope": "a\"b"])
        let basic = try XCTUnwrap(DockerFamily.parseChallenge(#"Basic realm="Registry Realm""#))
        XCTAssertEqual(basic.scheme, "basic")
        XCTAssertEqual(basic.parameters["realm"], "Registry Realm")
    }

    func testRegistryPagesStayOnTheRegistry() throws {
        let link = try XCTUnwrap(LinkHeader.next(#"<https://elsewhere.example/v2/library/ubuntu/tags/list?last=22.04&n=2>; rel="next""#))
        XCTAssertEqual(LinkHeader.nextPage(of: "http://127.0.0.1:5000/v2/library/ubuntu/tags/list", link: link),
                       "http://127.0.0.1:5000/v2/library/ubuntu/tags/list?last=22.04&n=2")
        XCTAssertEqual(LinkHeader.next(#"</v2/library/ubuntu/tags/list?last=22.04&n=2>; rel="next""#),
                       "/v2/library/ubuntu/tags/list?last=22.04&n=2")
        XCTAssertNil(LinkHeader.next(#"</v2/x>; rel="prev""#))
        XCTAssertEqual(try DockerFamily.registryOrigin("ghcr.io"), "https://ghcr.io")
        XCTAssertEqual(try DockerFamily.registryOrigin("docker.io"), "https://registry-1.docker.io")
        XCTAssertEqual(try DockerFamily.registryOrigin("localhost:5000"), "https://localhost:5000")
        XCTAssertEqual(try DockerFamily.registryOrigin("http://127.0.0.1:5000/"), "http://127.0.0.1:5000")
        XCTAssertThrowsError(try DockerFamily.registryOrigin("http://h/x"))
    }

    func testRegistryErrors() {
        func error(_ status: Int, _ body: String) -> CacheError { DockerFamily.registryError(status: status, body: Array(body.utf8)) }
        XCTAssertEqual(error(404, #"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#).kind, .notFound)
        XCTAssertEqual(error(401, #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#).kind, .accessDenied)
        XCTAssertEqual(error(429, #"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#).kind, .busy)
        XCTAssertEqual(error(500, "oops").kind, .io)
        XCTAssertEqual(error(404, #"{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}"#).message, "registry answered 404 NAME_UNKNOWN: unknown")
    }
}
