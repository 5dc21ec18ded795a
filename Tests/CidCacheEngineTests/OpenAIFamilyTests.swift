import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

private func object(_ text: String) throws -> JSONObject {
    try XCTUnwrap(CanonicalJSON.parse(Array(text.utf8)).objectValue)
}

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
        XCTAssertTrue(family.streams(op: "chat.completions", request: try object(request)))
        XCTAssertTrue(family.streams(op: "completions", request: try object(#"{"stream":true}"#)))
        XCTAssertFalse(family.streams(op: "chat.completions", request: try object(#"{"model":"m"}"#)))
        XCTAssertFalse(family.streams(op: "chat.completions", request: try object(#"{"stream":"true"}"#)))
        XCTAssertFalse(family.streams(op: "embeddings", request: try object(#"{"stream":true}"#)))
    }

    func testCompleteAndTruncatedStreams() throws {
        let bytes = Array(Self.stream.utf8)
        XCTAssertTrue(family.isCompleteStream(op: "chat.completions", body: bytes))
        XCTAssertTrue(family.isCompleteStream(op: "chat.completions", body: Array("data: [DONE]\r\n\r\n".utf8)))
        XCTAssertTrue(family.isCompleteStream(op: "chat.completions", body: Array(": keep-alive\n\ndata: [DONE]\n".utf8)))
        XCTAssertFalse(family.isCompleteStream(op: "chat.completions", body: Array("data: [DONE]".utf8)))
        XCTAssertFalse(family.isCompleteStream(op: "chat.completions", body: Array(bytes.prefix(300))))
        let cut = Self.stream.range(of: "data: [DONE]")!.lowerBound
        XCTAssertFalse(family.isCompleteStream(op: "chat.completions", body: Array(Self.stream[..<cut].utf8)))
        XCTAssertFalse(family.isCompleteStream(op: "chat.completions", body: []))
        XCTAssertTrue(family.isCompleteStream(op: "chat.completions", body: Array(#"{"choices":[]}"#.utf8)))
    }

    func testUsageOfStreamedAndWholeAnswers() throws {
        XCTAssertEqual(family.usage(op: "chat.completions", request: try object(request), response: Array(Self.stream.utf8)),
                       TokenUsage(model: "gpt-4o-mini", inputTokens: 9, outputTokens: 1))
        let withoutUsage = Self.stream.replacingOccurrences(
            of: #""usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}"#, with: #""usage":null"#)
        XCTAssertNil(family.usage(op: "chat.completions", request: try object(request), response: Array(withoutUsage.utf8)))
        let whole = #"{"id":"chatcmpl-2","object":"chat.completion","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#
        XCTAssertEqual(family.usage(op: "chat.completions", request: try object(request), response: Array(whole.utf8)),
                       TokenUsage(model: "gpt-4o-mini", inputTokens: 5, outputTokens: 7))
    }

    func testServerSentEventFraming() {
        let events = ServerSentEvents(Array("\u{FEFF}: comment\nevent: a\ndata: 1\ndata:2\r\n\rdata: x\rid: 7\n\ndata: tail".utf8))
        XCTAssertEqual(events.events.map(\.name), ["a", nil])
        XCTAssertEqual(events.events.map(\.data), ["1\n2", "x"])
        XCTAssertEqual(events.events.map(\.isDispatched), [true, true])
        XCTAssertTrue(events.endsMidLine)
        XCTAssertEqual(NDJSON.lastObject(Array("{\"a\":1}\n{\"b\":2}\r\n\n".utf8))?["b"], 2)
        XCTAssertNil(NDJSON.lastObject(Array("{\"a\":1}\n{\"b\":".utf8)))
    }

    func testEveryFamilyIsRegisteredOnce() {
        let names = FamilyRegistry.all.map(\.name)
        XCTAssertEqual(names, ["openai", "anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea",
                               "s3", "docker", "exec", "hf", "github", "codeql", "ipfs"])
        for name in names { XCTAssertEqual(FamilyRegistry.family(named: name)?.name, name) }
    }
}
