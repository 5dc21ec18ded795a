import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class TGIFamilyTests: XCTestCase {
    private let family = TGIFamily()
    private let generate = #"{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":20,"details":true}}"#
    private let chat = #"{"model":"tgi","messages":[{"role":"user","content":"hi"}],"temperature":0,"stream":true}"#

    func testRequests() throws {
        let server = Endpoint(baseURL: "http://127.0.0.1:8080", credential: nil)
        let request = try family[op: "generate"].httpRequest(try object(generate), body: Array(generate.utf8), endpoint: server)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://127.0.0.1:8080/generate")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, Array(generate.utf8))
        let chatRequest = try family[op: "chat.completions"].httpRequest(try object(chat), body: Array(chat.utf8), endpoint: server)
        XCTAssertEqual(chatRequest.url, "http://127.0.0.1:8080/v1/chat/completions")
        XCTAssertEqual(chatRequest.body, Array(chat.utf8))
    }

    func testBearerFromTheCredential() throws {
        let hf = Endpoint(baseURL: "http://127.0.0.1:8080", credential: "test-hf-token")
        XCTAssertEqual(try family[op: "generate"].httpRequest(try object(generate), body: [], endpoint: hf)
                           .header("authorization"), "Bearer test-hf-token")
        let own = Endpoint(baseURL: "https://ep.example/", credential: "k")
        let request = try family[op: "chat.completions"].httpRequest(try object(chat), body: [], endpoint: own)
        XCTAssertEqual(request.header("authorization"), "Bearer k")
        XCTAssertEqual(request.url, "https://ep.example/v1/chat/completions")
        XCTAssertFalse(family.requiresCredential)
    }

    func testTTLs() throws {
        XCTAssertEqual(family[op: "generate"].defaultTTL(try object(generate)), 1800)
        XCTAssertEqual(family[op: "generate"].defaultTTL(try object(#"{"parameters":{"temperature":0}}"#)), 3600)
        XCTAssertEqual(family[op: "generate"].defaultTTL(try object(#"{"parameters":{"temperature":0.7}}"#)), 1800)
        XCTAssertEqual(family[op: "chat.completions"].defaultTTL(try object(chat)), 3600)
        XCTAssertEqual(family[op: "chat.completions"].defaultTTL(try object(#"{"temperature":1}"#)), 1800)
    }

    func testDroppedFields() {
        XCTAssertEqual(family[op: "generate"].droppedFields, [])
        XCTAssertEqual(family[op: "chat.completions"].droppedFields, ["user", "metadata", "store"])
    }

    func testValidation() throws {
        XCTAssertNoThrow(try family[op: "generate"].validate(try object(generate)))
        XCTAssertNoThrow(try family[op: "chat.completions"].validate(try object(#"{"messages":[]}"#)))
        for (op, text) in [("generate", #"{"parameters":{}}"#), ("generate", #"{"inputs":["a"]}"#),
                           ("chat.completions", #"{"model":"tgi"}"#), ("chat.completions", #"{"model":1,"messages":[]}"#)] {
            XCTAssertThrowsError(try family[op: op].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
            }
        }
    }

    func testGenerateUsageFromDetails() throws {
        let answer = #"{"generated_text":" Deep learning is a subset","details":{"finish_reason":"length","generated_tokens":20,"seed":null,"prefill":[{"id":1,"text":"<s>","logprob":null},{"id":1724,"text":"What","logprob":-8.3}],"tokens":[]}}"#
        XCTAssertEqual(family[op: "generate"].usage(try object(generate), Array(answer.utf8)),
                       TokenUsage(model: nil, inputTokens: 2, outputTokens: 20))
        XCTAssertNil(family[op: "generate"].usage(try object(generate), Array(#"{"generated_text":"x"}"#.utf8)))
    }

    static let chatStream = """
        data: {"object":"chat.completion.chunk","id":"","created":1730000000,"model":"meta-llama/Llama-3.1-8B-Instruct","system_fingerprint":"3.0.0-native","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

        data: {"object":"chat.completion.chunk","id":"","created":1730000000,"model":"meta-llama/Llama-3.1-8B-Instruct","system_fingerprint":"3.0.0-native","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}

        data: [DONE]


        """

    func testChatStreamUsageAndCompleteness() throws {
        let bytes = Array(Self.chatStream.utf8)
        XCTAssertEqual(family[op: "chat.completions"].usage(try object(chat), bytes),
                       TokenUsage(model: "tgi", inputTokens: 12, outputTokens: 3))
        XCTAssertTrue(family[op: "chat.completions"].isComplete(bytes))
        let cut = Self.chatStream.range(of: "data: [DONE]")!.lowerBound
        XCTAssertFalse(family[op: "chat.completions"].isComplete(Array(Self.chatStream[..<cut].utf8)))
        XCTAssertFalse(family[op: "chat.completions"].isComplete(Array("data: [DON".utf8)))
        XCTAssertTrue(family[op: "generate"].isComplete(Array(#"{"generated_text":"x"}"#.utf8)))
    }

    func testStreams() throws {
        XCTAssertTrue(family[op: "chat.completions"].streams(try object(chat)))
        XCTAssertFalse(family[op: "chat.completions"].streams(try object(#"{"messages":[]}"#)))
        XCTAssertFalse(family[op: "generate"].streams(try object(#"{"inputs":"x","stream":true}"#)))
    }
}
