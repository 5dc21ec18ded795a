import CidCacheCore
@testable import CidCacheHTTP
@testable import CidCacheUpstreams
import XCTest

extension FamilyRoutes {
    /// The front's routes into a family by its name, as a namespace of it has them; nil when it has none.
    static func family(_ name: String) -> FamilyRoutes? {
        FamilyRegistry.family(named: name).map { FamilyRoutes($0.frontRoutes) }.flatMap { $0.routes.isEmpty ? nil : $0 }
    }
}

/// The front's pure parts: which routes are operations, and how a path names its namespace.
final class RouteTableTests: XCTestCase {
    func testEachFamilysOperationRoutes() {
        let openAI = FamilyRoutes.family("openai")
        XCTAssertEqual(openAI?.match(method: "POST", path: "/chat/completions")?.operation, "chat.completions")
        XCTAssertEqual(openAI?.match(method: "POST", path: "/completions")?.operation, "completions")
        XCTAssertEqual(openAI?.match(method: "POST", path: "/embeddings")?.operation, "embeddings")
        XCTAssertEqual(openAI?.match(method: "POST", path: "/responses")?.operation, "responses")
        XCTAssertEqual(FamilyRoutes.family("anthropic")?.match(method: "POST", path: "/v1/messages")?.operation, "messages")
        let ollama = FamilyRoutes.family("ollama")
        XCTAssertEqual(ollama?.match(method: "POST", path: "/api/chat")?.operation, "chat")
        XCTAssertEqual(ollama?.match(method: "POST", path: "/api/generate")?.operation, "generate")
        XCTAssertEqual(ollama?.match(method: "POST", path: "/api/embed")?.operation, "embed")
    }

    func testOtherRoutesPassThrough() {
        let openAI = FamilyRoutes.family("openai")
        XCTAssertNil(openAI?.match(method: "GET", path: "/chat/completions")?.operation, "another method")
        XCTAssertNil(openAI?.match(method: "GET", path: "/models"))
        XCTAssertNil(openAI?.match(method: "POST", path: "/chat/completions/")?.operation, "paths match exactly")
        XCTAssertNil(FamilyRoutes.family("anthropic")?.match(method: "POST", path: "/v1/messages/count_tokens"))
        XCTAssertNil(FamilyRoutes.family("ollama")?.match(method: "GET", path: "/api/tags"))
        XCTAssertNil(FamilyRoutes.family("s3"), "a family without routes: everything passes through")
    }

    func testStreamsAndErrorsInEachFamilysFormat() {
        XCTAssertEqual(OpenAIFamily().operation(named: "chat.completions")?.streamContentType, "text/event-stream; charset=utf-8")
        XCTAssertEqual(AnthropicFamily().errorFormat, .anthropic)
        XCTAssertEqual(OllamaFamily().operation(named: "chat")?.streamContentType, "application/x-ndjson")
        XCTAssertEqual(OllamaFamily().errorFormat, .message)
        XCTAssertEqual(TGIFamily().operation(named: "chat.completions")?.streamContentType, "text/event-stream")
        XCTAssertNil(OpenAIFamily().operation(named: "embeddings")?.streamContentType, "never streamed")
    }

    func testEachRouteBuildsTheUpstreamPathItMatches() throws {
        // The one pattern both ways: the members a path gives build that path again.
        for family in FamilyRegistry.all {
            for front in family.frontRoutes {
                guard case .named = front.operation else { continue }
                let members = ["repo_id": "org/name", "revision": "v1", "path": "src", "model": "m", "model_version": "2",
                               "org": "acme", "user": "u", "owner": "o", "repo": "r", "workflow_id": "ci.yml"]
                let path = try front.route.pattern.path(members)
                let matched = try XCTUnwrap(front.route.pattern.match(path), "\(family.name) \(path)")
                XCTAssertEqual(matched.map(\.name), front.route.pattern.memberNames)
            }
        }
    }

    func testThePathsFirstSegmentIsTheNamespace() {
        XCTAssertTrue(FrontResponder.split("/openai/chat/completions") == ("openai", "/chat/completions"))
        XCTAssertTrue(FrontResponder.split("/anthropic/v1/messages") == ("anthropic", "/v1/messages"))
        XCTAssertTrue(FrontResponder.split("/ollama") == ("ollama", ""))
        XCTAssertTrue(FrontResponder.split("/") == ("", ""))
    }

    /// The query request a GET stands for, as canonical JSON text.
    private func request(_ family: String, _ path: String, query: String? = nil) throws -> String? {
        guard let match = FamilyRoutes.family(family)?.match(method: "GET", path: path) else { return nil }
        return String(decoding: try match.request(query: query), as: UTF8.self)
    }

    func testHubRoutesNameTheirRepositoryAndRevision() throws {
        let hub = FamilyRoutes.family("hf")
        XCTAssertEqual(hub?.match(method: "GET", path: "/api/models/bert-base-uncased")?.operation, "model_info")
        XCTAssertEqual(try request("hf", "/api/models/google/bert"), #"{"repo_id":"google/bert"}"#)
        XCTAssertEqual(try request("hf", "/api/models/google/bert/revision/refs%2Fpr%2F1"),
                       #"{"repo_id":"google/bert","revision":"refs/pr/1"}"#)
        XCTAssertEqual(hub?.match(method: "GET", path: "/api/datasets/org/data")?.operation, "dataset_info")
        XCTAssertEqual(try request("hf", "/api/models/org/bert/tree/main", query: "recursive=True&expand=False"),
                       #"{"expand":"False","recursive":"True","repo_id":"org/bert","revision":"main"}"#)
        XCTAssertEqual(try request("hf", "/api/spaces/org/demo/tree/main/src/app"),
                       #"{"path":"src/app","repo_id":"org/demo","repo_type":"space","revision":"main"}"#)
        XCTAssertEqual(try request("hf", "/api/models/solo/tree/v1"), #"{"repo_id":"solo","revision":"v1"}"#)
        XCTAssertEqual(try request("hf", "/api/models", query: "search=bert+base&filter=a&filter=b"),
                       #"{"filter":["a","b"],"search":"bert base"}"#)
        XCTAssertNil(hub?.match(method: "GET", path: "/api/models/a/b/c"), "a repository id has at most two parts")
        XCTAssertNil(hub?.match(method: "POST", path: "/api/models/org/bert"))
    }

    func testGitHubRoutes() throws {
        XCTAssertEqual(try request("github", "/orgs/acme/repos", query: "per_page=2"), #"{"org":"acme","per_page":"2"}"#)
        XCTAssertEqual(try request("github", "/user/repos"), "{}")
        XCTAssertEqual(try request("github", "/repos/o/r/actions/workflows/ci.yml/runs", query: "branch=main"),
                       #"{"branch":"main","owner":"o","repo":"r","workflow_id":"ci.yml"}"#)
        XCTAssertEqual(FamilyRoutes.family("github")?.match(method: "GET", path: "/orgs/acme/actions/runners")?.operation, "runners")
        XCTAssertNil(FamilyRoutes.family("github")?.match(method: "GET", path: "/repos/o/r/pulls"))
    }

    func testQueryStringsThatCannotBeARequestAreRefused() {
        XCTAssertThrowsError(try request("github", "/orgs/acme/repos", query: "org=other")) { error in
            XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest)
        }
        XCTAssertThrowsError(try request("hf", "/api/models", query: "search=%zz"))
        XCTAssertNil(PercentEncoding.decode("%C3%28", plusIsSpace: false), "not UTF-8")
        XCTAssertEqual(PercentEncoding.decode("a+b%2Bc", plusIsSpace: true), "a b+c")
        XCTAssertEqual(PercentEncoding.decode("a+b", plusIsSpace: false), "a+b")
        XCTAssertNil(RoutePattern("/api/models/{repo_id+}").match("/api/models//x"), "an empty segment")
    }

    func testGeminiFoldsTheModelFromThePathIntoTheRequest() throws {
        let match = try XCTUnwrap(FamilyRoutes.family("gemini")?.match(method: "POST", path: "/v1beta/models/gemini-2.0-flash:generateContent"))
        XCTAssertEqual(match.operation, "generateContent")
        let body = Array(#" {"contents": [{"parts": [{"text": "hi"}]}]}"#.utf8)
        XCTAssertEqual(String(decoding: try match.request(body: body, query: nil), as: UTF8.self),
                       #" {"model":"gemini-2.0-flash","contents": [{"parts": [{"text": "hi"}]}]}"#)
        XCTAssertEqual(FamilyRoutes.family("gemini")?.match(method: "POST", path: "/v1beta/models/m:embedContent")?.operation, "embedContent")
        let stream = FamilyRoutes.family("gemini")?.match(method: "POST", path: "/v1beta/models/m:streamGenerateContent")
        XCTAssertEqual(stream?.operation, "streamGenerateContent")
        XCTAssertEqual(stream?.query, "alt=sse", "the front serves it only with the query Google's SDKs send")
        XCTAssertNil(FamilyRoutes.family("gemini")?.match(method: "POST", path: "/v1beta/models/:generateContent"), "no model")
    }

    func testFoldingKeepsTheCallersBytes() throws {
        let members = [(name: "model", value: "m\"x")]
        XCTAssertEqual(String(decoding: try FamilyRoutes.Match.folding(members, into: Array("{}".utf8)), as: UTF8.self),
                       #"{"model":"m\"x"}"#)
        XCTAssertEqual(try FamilyRoutes.Match.folding([], into: Array("not json".utf8)), Array("not json".utf8))
        XCTAssertThrowsError(try FamilyRoutes.Match.folding(members, into: Array("[1]".utf8)))
        XCTAssertThrowsError(try FamilyRoutes.Match.folding(members, into: []))
    }

    func testInferenceServersBodyRoutes() throws {
        XCTAssertEqual(FamilyRoutes.family("tgi")?.match(method: "POST", path: "/generate")?.operation, "generate")
        XCTAssertEqual(FamilyRoutes.family("tgi")?.match(method: "POST", path: "/v1/chat/completions")?.operation, "chat.completions")
        XCTAssertNil(FamilyRoutes.family("tgi")?.match(method: "POST", path: "/generate_stream"))
        XCTAssertEqual(FamilyRoutes.family("tei")?.match(method: "POST", path: "/embed")?.operation, "embed")
        let route = FamilyRoutes.family("opea")?.match(method: "POST", path: "/v1/chatqna")
        XCTAssertEqual(route?.operation, "chatqna", "OPEA's route names the operation")
        XCTAssertEqual(route?.members.count, 0, "and is not a member of the request")
        let version = FamilyRoutes.family("ovms")?.match(method: "POST", path: "/v2/models/resnet/versions/2/infer")
        XCTAssertEqual(version?.operation, "infer")
        XCTAssertEqual(String(decoding: try XCTUnwrap(version).request(body: Array("{}".utf8), query: nil), as: UTF8.self),
                       #"{"model":"resnet","model_version":"2"}"#)
    }
}
