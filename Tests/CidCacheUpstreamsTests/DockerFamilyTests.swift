import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

private func object(_ text: String) throws -> JSONObject {
    try XCTUnwrap(CanonicalJSON.parse(Array(text.utf8)).objectValue)
}


private func namespace(_ environment: [String: String] = [:]) throws -> Namespace {
    let list = try NamespaceResolver.resolve(config: CacheConfig(), environment: environment,
                                             secret: [UInt8](repeating: 3, count: 32))
    return try XCTUnwrap(list.first { $0.name == "docker" })
}

final class DockerFamilyTests: XCTestCase {
    private let family = DockerFamily()

    func testDockerHostBecomesABaseURL() throws {
        XCTAssertEqual(try namespace().endpoint.baseURL, "http+unix://%2Fvar%2Frun%2Fdocker.sock")
        XCTAssertEqual(family.effectiveBaseURL("unix:///run/user/1000/docker.sock"), "http+unix://%2Frun%2Fuser%2F1000%2Fdocker.sock")
        XCTAssertEqual(family.effectiveBaseURL("/tmp/my dir/d.sock"), "http+unix://%2Ftmp%2Fmy%20dir%2Fd.sock")
        XCTAssertEqual(family.effectiveBaseURL("tcp://10.0.0.5:2376"), "http://10.0.0.5:2376")
        XCTAssertEqual(family.effectiveBaseURL("tcp://docker-host"), "http://docker-host:2375")
        XCTAssertEqual(family.effectiveBaseURL("http://127.0.0.1:2375"), "http://127.0.0.1:2375")
        XCTAssertEqual(try namespace(["DOCKER_HOST": "tcp://h:1"]).endpoint.baseURL, "http://h:1")
        XCTAssertEqual(try namespace(["DOCKER_HOST": "tcp://h:1", "CIDCACHE_DOCKER_URL": "unix:///x.sock"]).endpoint.baseURL,
                       "http+unix://%2Fx.sock")
    }

    func testEngineAPIRequestsOverAUnixSocket() throws {
        let ns = try namespace(["DOCKER_HOST": "unix:///var/run/docker.sock"])
        func call(_ op: String, _ text: String) throws -> UpstreamHTTPRequest {
            let request = try object(text)
            try family[op: op].validate(request)
            return try family[op: op].httpRequest(request, body: [], endpoint: ns.endpoint)
        }
        let socket = "http+unix://%2Fvar%2Frun%2Fdocker.sock/v1.43"
        let inspect = try call("images.inspect", #"{"name":"ghcr.io/owner/repo:1.0"}"#)
        XCTAssertEqual(inspect.method, "GET")
        XCTAssertEqual(inspect.url, socket + "/images/ghcr.io/owner/repo:1.0/json")
        XCTAssertEqual(inspect.header("host"), "localhost")
        XCTAssertNil(inspect.body)
        XCTAssertEqual(try call("images.inspect", #"{"name":"alpine@sha256:abc"}"#).url, socket + "/images/alpine@sha256:abc/json")
        XCTAssertEqual(try call("images.history", #"{"name":"ubuntu:22.04"}"#).url, socket + "/images/ubuntu:22.04/history")
        XCTAssertEqual(try call("images.search", #"{"term":"postgres db","limit":5}"#).url, socket + "/images/search?term=postgres%20db&limit=5")
        XCTAssertEqual(try call("containers.inspect", #"{"id":"abc123","size":true}"#).url, socket + "/containers/abc123/json?size=true")
        XCTAssertEqual(try call("containers.list", #"{"all":true,"filters":{"status":["running"]}}"#).url,
                       socket + "/containers/json?all=true&filters=%7B%22status%22%3A%5B%22running%22%5D%7D")
        XCTAssertEqual(try call("containers.list", #"{"filters":"{\"label\":[\"a=b\"]}"}"#).url,
                       socket + "/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")
        XCTAssertEqual(try call("containers.list", "{}").url, socket + "/containers/json")
        XCTAssertEqual(try call("volumes.inspect", #"{"name":"my_vol.1"}"#).url, socket + "/volumes/my_vol.1")
        XCTAssertEqual(try call("networks.inspect", #"{"id":"bridge","verbose":false,"scope":"local"}"#).url,
                       socket + "/networks/bridge?verbose=false&scope=local")

        let tcp = try namespace(["DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_API_VERSION": "1.41"])
        let overTCP = try family[op: "volumes.inspect"].httpRequest(["name": "v"], body: [], endpoint: tcp.endpoint)
        XCTAssertEqual(overTCP.url, "http://127.0.0.1:2375/v1.41/volumes/v")
        XCTAssertNil(overTCP.header("host"))
    }

    func testAPIVersionAndRegistryArePartOfTheIdentity() throws {
        let base = try namespace()
        XCTAssertEqual(family.apiVersion(base.endpoint), "v1.43")
        XCTAssertEqual(family.apiVersion(try namespace(["CIDCACHE_DOCKER_API_VERSION": "v1.45"]).endpoint), "v1.45")
        XCTAssertNotEqual(try namespace(["DOCKER_API_VERSION": "1.41"]).upstream, base.upstream)
        XCTAssertEqual(try namespace(["DOCKER_API_VERSION": "1.43"]).upstream, base.upstream)
        XCTAssertNotEqual(try namespace(["CIDCACHE_DOCKER_REGISTRY": "http://127.0.0.1:5000"]).upstream, base.upstream)
        XCTAssertNotEqual(try namespace(["CIDCACHE_DOCKER_KEY": "user:pass"]).upstream, base.upstream)
        XCTAssertTrue(family.isCredentialScoped)
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
