@testable import CidCacheHTTP
import XCTest

/// The front's pure parts: which routes are operations, and how a path names its namespace.
final class RouteTableTests: XCTestCase {
    func testEachFamilysOperationRoutes() {
        let openAI = FamilyRoutes.family("openai")
        XCTAssertEqual(openAI?.operation(method: "POST", path: "/chat/completions"), "chat.completions")
        XCTAssertEqual(openAI?.operation(method: "POST", path: "/completions"), "completions")
        XCTAssertEqual(openAI?.operation(method: "POST", path: "/embeddings"), "embeddings")
        XCTAssertEqual(FamilyRoutes.family("anthropic")?.operation(method: "POST", path: "/v1/messages"), "messages")
        let ollama = FamilyRoutes.family("ollama")
        XCTAssertEqual(ollama?.operation(method: "POST", path: "/api/chat"), "chat")
        XCTAssertEqual(ollama?.operation(method: "POST", path: "/api/generate"), "generate")
        XCTAssertEqual(ollama?.operation(method: "POST", path: "/api/embed"), "embed")
    }

    func testOtherRoutesPassThrough() {
        let openAI = FamilyRoutes.family("openai")
        XCTAssertNil(openAI?.operation(method: "GET", path: "/chat/completions"), "another method")
        XCTAssertNil(openAI?.operation(method: "GET", path: "/models"))
        XCTAssertNil(openAI?.operation(method: "POST", path: "/chat/completions/"), "paths match exactly")
        XCTAssertNil(FamilyRoutes.family("anthropic")?.operation(method: "POST", path: "/v1/messages/count_tokens"))
        XCTAssertNil(FamilyRoutes.family("ollama")?.operation(method: "GET", path: "/api/tags"))
        XCTAssertNil(FamilyRoutes.family("s3"), "a family without routes: everything passes through")
    }

    func testStreamsAndErrorsInEachFamilysFormat() {
        XCTAssertEqual(FamilyRoutes.family("openai")?.streamContentType, "text/event-stream; charset=utf-8")
        XCTAssertEqual(FamilyRoutes.family("anthropic")?.errorFormat, .anthropic)
        XCTAssertEqual(FamilyRoutes.family("ollama")?.streamContentType, "application/x-ndjson")
        XCTAssertEqual(FamilyRoutes.family("ollama")?.errorFormat, .message)
    }

    func testThePathsFirstSegmentIsTheNamespace() {
        XCTAssertTrue(FrontResponder.split("/openai/chat/completions") == ("openai", "/chat/completions"))
        XCTAssertTrue(FrontResponder.split("/anthropic/v1/messages") == ("anthropic", "/v1/messages"))
        XCTAssertTrue(FrontResponder.split("/ollama") == ("ollama", ""))
        XCTAssertTrue(FrontResponder.split("/") == ("", ""))
    }
}
