import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class OPEAFamilyTests: XCTestCase {
    private let family = OPEAFamily()
    private let chatqna = #"{"messages":"What is the revenue of Nike in 2023?","stream":false}"#

    func testOperationNamesArePatterns() {
        for op in ["chatqna", "codegen", "docsum", "translation", "searchqna", "audioqna", "faqgen", "visualqna",
                   "searchqa", "audioqa", "my_route-2", "a", String(repeating: "a", count: 64)] {
            XCTAssertNotNil(family.operation(named: op), op)
        }
        for op in ["", "ChatQnA", "1chat", "chat/completions", "chat.qna", "-x", "_x", "chat qna", "é",
                   String(repeating: "a", count: 65)] {
            XCTAssertNil(family.operation(named: op), op)
        }
        XCTAssertTrue(family.operations.contains("chatqna"))
        XCTAssertTrue(family.operations.allSatisfy { family.operation(named: $0) != nil })
        XCTAssertNotNil(OpenAIFamily().operation(named: "embeddings"))
        XCTAssertNil(OpenAIFamily().operation(named: "chatqna"))
    }

    func testRequestRoutes() throws {
        let megaservice = Endpoint(baseURL: "http://127.0.0.1:8888", credential: nil)
        let request = try family[op: "chatqna"].httpRequest(try object(chatqna), body: Array(chatqna.utf8), endpoint: megaservice)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://127.0.0.1:8888/v1/chatqna")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, Array(chatqna.utf8))
        let custom = Endpoint(baseURL: "http://mega:9999/", credential: "o")
        let routed = try family[op: "my_route"].httpRequest(try object("{}"), body: [], endpoint: custom)
        XCTAssertEqual(routed.url, "http://mega:9999/v1/my_route")
        XCTAssertEqual(routed.header("authorization"), "Bearer o")
        XCTAssertNil(family.operation(named: "../x"))
    }

    func testTTLDroppedFieldsAndValidation() throws {
        XCTAssertEqual(family[op: "chatqna"].defaultTTL(try object(#"{"temperature":0}"#)), 1800)
        XCTAssertEqual(family[op: "docsum"].defaultTTL(try object("{}")), 1800)
        XCTAssertEqual(family[op: "chatqna"].droppedFields, [])
        XCTAssertNoThrow(try family[op: "anything"].validate(try object("{}")))
    }

    static let stream = "data: b'The'\n\ndata: b' revenue'\n\ndata: [DONE]\n\n"

    func testStreamsByDefaultAndCompleteness() throws {
        XCTAssertTrue(family[op: "chatqna"].streams(try object(#"{"messages":"hi"}"#)))
        XCTAssertTrue(family[op: "chatqna"].streams(try object(#"{"messages":"hi","stream":true}"#)))
        XCTAssertFalse(family[op: "chatqna"].streams(try object(chatqna)))
        XCTAssertTrue(family[op: "chatqna"].isComplete(Array(Self.stream.utf8)))
        XCTAssertFalse(family[op: "chatqna"].isComplete(Array(Self.stream.utf8.dropLast(16))))
        let whole = #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"chatqna","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"total_tokens":0,"completion_tokens":0}}"#
        XCTAssertTrue(family[op: "chatqna"].isComplete(Array(whole.utf8)))
        XCTAssertEqual(family[op: "chatqna"].usage(try object("{}"), Array(whole.utf8)),
                       TokenUsage(model: nil, inputTokens: 0, outputTokens: 0))
    }
}
