import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class OpenAIFamilyTests: XCTestCase {
    private let family = OpenAIFamily()
    private let request = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#

    static let stream = """
        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}

        data: [DONE]


        """

    func testStreamsOnlyWhenAskedAndNeverForEmbeddings() throws {
        XCTAssertTrue(family[op: "chat.completions"].streams(try object(request)))
        XCTAssertTrue(family[op: "completions"].streams(try object(#"{"stream":true}"#)))
        XCTAssertFalse(family[op: "chat.completions"].streams(try object(#"{"model":"m"}"#)))
        XCTAssertFalse(family[op: "chat.completions"].streams(try object(#"{"stream":"true"}"#)))
        XCTAssertFalse(family[op: "embeddings"].streams(try object(#"{"stream":true}"#)))
    }

    func testCompleteAndTruncatedStreams() throws {
        let bytes = Array(Self.stream.utf8)
        XCTAssertTrue(family[op: "chat.completions"].isComplete(bytes))
        XCTAssertTrue(family[op: "chat.completions"].isComplete(Array("data: [DONE]\r\n\r\n".utf8)))
        XCTAssertTrue(family[op: "chat.completions"].isComplete(Array(": keep-alive\n\ndata: [DONE]\n".utf8)))
        XCTAssertFalse(family[op: "chat.completions"].isComplete(Array("data: [DONE]".utf8)))
        XCTAssertFalse(family[op: "chat.completions"].isComplete(Array(bytes.prefix(300))))
        let cut = Self.stream.range(of: "data: [DONE]")!.lowerBound
        XCTAssertFalse(family[op: "chat.completions"].isComplete(Array(Self.stream[..<cut].utf8)))
        XCTAssertFalse(family[op: "chat.completions"].isComplete([]))
        XCTAssertTrue(family[op: "chat.completions"].isComplete(Array(#"{"choices":[]}"#.utf8)))
    }

    func testUsageOfStreamedAndWholeAnswers() throws {
        XCTAssertEqual(family[op: "chat.completions"].usage(try object(request), Array(Self.stream.utf8)),
                       TokenUsage(model: "gpt-4o-mini", inputTokens: 9, outputTokens: 1))
        let withoutUsage = Self.stream.replacingOccurrences(
            of: #""usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}"#, with: #""usage":null"#)
        XCTAssertNil(family[op: "chat.completions"].usage(try object(request), Array(withoutUsage.utf8)))
        let whole = #"{"id":"chatcmpl-2","object":"chat.completion","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
        XCTAssertEqual(family[op: "chat.completions"].usage(try object(request), Array(whole.utf8)),
                       TokenUsage(model: "gpt-4o-mini", inputTokens: 5, outputTokens: 7))
    }

    func testServerSentEventFraming() {
        let body = Array("\u{FEFF}: comment\nevent: a\ndata: 1\ndata:2\r\n\rdata: x\rid: 7\n\ndata: tail".utf8)
        // Whole, and a byte at a time (a CRLF split across chunks is one line break).
        for size in [body.count, 1] {
            var scanner = ServerSentEventScanner()
            var events: [ServerSentEventScanner.Event] = []
            for start in stride(from: 0, to: body.count, by: size) {
                events += scanner.consume(body[start..<min(start + size, body.count)])
            }
            XCTAssertEqual(events.map(\.name), ["a", nil])
            XCTAssertEqual(events.map(\.data), ["1\n2", "x"])
            XCTAssertEqual(events.map(\.isDispatched), [true, true])
            XCTAssertTrue(scanner.endsMidLine)
            XCTAssertNil(scanner.undispatched)
        }
        var lines = NDJSONScanner()
        lines.consume(Array("{\"a\":1}\n{\"b\":2}\r\n\n".utf8))
        XCTAssertEqual(lines.lastObject()?["b"], 2)
        var cut = NDJSONScanner()
        cut.consume(Array("{\"a\":1}\n{\"b\":".utf8))
        XCTAssertNil(cut.lastObject())
    }

    func testEveryFamilyIsRegisteredOnce() {
        let names = FamilyRegistry.all.map(\.name)
        XCTAssertEqual(names, ["openai", "anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea",
                               "s3", "docker", "exec", "hf", "github", "codeql", "ipfs"])
        for name in names { XCTAssertEqual(FamilyRegistry.family(named: name)?.name, name) }
    }
}
