import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class OllamaFamilyTests: XCTestCase {
    private let family = OllamaFamily()
    private let chat = #"{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue?"}],"options":{"temperature":0}}"#

    func testHostNormalization() {
        let cases = [
            "": "http://127.0.0.1:11434",
            "  ": "http://127.0.0.1:11434",
            "0.0.0.0": "http://0.0.0.0:11434",
            "127.0.0.1:11434": "http://127.0.0.1:11434",
            "example.com:8080": "http://example.com:8080",
            "example.com": "http://example.com:11434",
            "example.com/ollama/": "http://example.com:11434/ollama",
            ":9999": "http://127.0.0.1:9999",
            "[::1]": "http://[::1]:11434",
            "[::1]:1234": "http://[::1]:1234",
            "::1": "http://[::1]:11434",
            "host:notaport": "http://host:11434",
            "http://127.0.0.1:11434": "http://127.0.0.1:11434",
            "https://ollama.example.com": "https://ollama.example.com",
        ]
        for (input, expected) in cases {
            XCTAssertEqual(OllamaFamily.normalizeHost(input), expected, input)
            XCTAssertEqual(family.effectiveBaseURL(input), expected, input)
        }
    }

    func testRequestsAtOllamaHost() throws {
        let host = Endpoint(baseURL: family.effectiveBaseURL("0.0.0.0"), credential: nil)
        let request = try family[op: "chat"].httpRequest(try object(chat), body: Array(chat.utf8), endpoint: host)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://0.0.0.0:11434/api/chat")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, Array(chat.utf8))
        let endpoint = Endpoint(baseURL: family.effectiveBaseURL(""), credential: nil)
        for (op, path) in [("generate", "/api/generate"), ("embed", "/api/embed")] {
            XCTAssertEqual(try family[op: op].httpRequest(try object("{}"), body: [], endpoint: endpoint).url,
                           "http://127.0.0.1:11434" + path)
        }
        let keyed = Endpoint(baseURL: family.effectiveBaseURL("http://gpu:11434/"), credential: "proxy-token")
        let proxied = try family[op: "chat"].httpRequest(try object(chat), body: [], endpoint: keyed)
        XCTAssertEqual(proxied.url, "http://gpu:11434/api/chat")
        XCTAssertEqual(proxied.header("authorization"), "Bearer proxy-token")
    }

    func testTTLsAndNothingDropped() throws {
        XCTAssertEqual(family[op: "chat"].defaultTTL(try object(chat)), 3600)
        XCTAssertEqual(family[op: "generate"].defaultTTL(try object(#"{"options":{"temperature":0.8}}"#)), 1800)
        XCTAssertEqual(family[op: "chat"].defaultTTL(try object(#"{"temperature":0}"#)), 1800)
        XCTAssertEqual(family[op: "embed"].defaultTTL(try object("{}")), 86_400)
        for op in family.operations { XCTAssertEqual(family[op: op].droppedFields, []) }
    }

    func testValidation() throws {
        XCTAssertNoThrow(try family[op: "chat"].validate(try object(chat)))
        XCTAssertNoThrow(try family[op: "generate"].validate(try object(#"{"model":"m","prompt":"p"}"#)))
        XCTAssertNoThrow(try family[op: "embed"].validate(try object(#"{"model":"m","input":["a"]}"#)))
        for (op, text) in [("chat", #"{"model":"m"}"#), ("generate", #"{"model":"m"}"#), ("embed", #"{"model":"m"}"#),
                           ("chat", #"{"messages":[]}"#), ("generate", #"{"model":null,"prompt":"p"}"#)] {
            XCTAssertThrowsError(try family[op: op].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
            }
        }
    }

    func testStreamsUnlessStreamIsFalse() throws {
        XCTAssertTrue(family[op: "chat"].streams(try object(chat)))
        XCTAssertTrue(family[op: "generate"].streams(try object(#"{"stream":true}"#)))
        XCTAssertTrue(family[op: "generate"].streams(try object(#"{"stream":null}"#)))
        XCTAssertFalse(family[op: "chat"].streams(try object(#"{"stream":false}"#)))
        XCTAssertFalse(family[op: "embed"].streams(try object("{}")))
    }

    static let stream = """
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00.1Z","message":{"role":"assistant","content":"The"},"done":false}
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00.2Z","message":{"role":"assistant","content":" sky"},"done":false}
        {"model":"llama3.2","created_at":"2025-01-01T00:00:00.3Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}

        """

    func testCompleteAndTruncatedStreams() throws {
        let bytes = Array(Self.stream.utf8)
        XCTAssertTrue(family[op: "chat"].isComplete(bytes))
        XCTAssertTrue(family[op: "chat"].isComplete(Array(bytes.dropLast())))
        XCTAssertFalse(family[op: "chat"].isComplete(Array(bytes.dropLast(10))))
        let firstTwo = Self.stream.split(separator: "\n").prefix(2).joined(separator: "\n") + "\n"
        XCTAssertFalse(family[op: "chat"].isComplete(Array(firstTwo.utf8)))
        let failed = firstTwo + #"{"error":"model runner has unexpectedly stopped"}"# + "\n"
        XCTAssertFalse(family[op: "chat"].isComplete(Array(failed.utf8)))
        XCTAssertFalse(family[op: "generate"].isComplete([]))
        let whole = #"{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":"Blue.","done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":2}"#
        XCTAssertTrue(family[op: "generate"].isComplete(Array(whole.utf8)))
        XCTAssertTrue(family[op: "embed"].isComplete([]))
    }

    func testUsage() throws {
        XCTAssertEqual(family[op: "chat"].usage(try object(chat), Array(Self.stream.utf8)),
                       TokenUsage(model: "llama3.2", inputTokens: 26, outputTokens: 282))
        let whole = #"{"model":"llama3.2","response":"Blue.","done":true,"prompt_eval_count":5,"eval_count":2}"#
        XCTAssertEqual(family[op: "generate"].usage(try object(#"{"model":"llama3.2"}"#), Array(whole.utf8)),
                       TokenUsage(model: "llama3.2", inputTokens: 5, outputTokens: 2))
        let embed = #"{"model":"all-minilm","embeddings":[[0.01,-0.02]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}"#
        XCTAssertEqual(family[op: "embed"].usage(try object(#"{"model":"all-minilm"}"#), Array(embed.utf8)),
                       TokenUsage(model: "all-minilm", inputTokens: 8, outputTokens: 0))
        let firstLine = String(Self.stream.split(separator: "\n")[0])
        XCTAssertNil(family[op: "chat"].usage(try object(chat), Array(firstLine.utf8)))
    }
}
