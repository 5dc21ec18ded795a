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

    /// A streamed Responses API answer, as OpenAI words it: named events, the last one `response.completed` with the whole response.
    static let responseStream = """
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}

        event: response.completed
        data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":9,"output_tokens":1,"total_tokens":10}}}


        """

    func testResponsesIsAPostOfItsOwnRouteWithTheGenerationTTL() throws {
        let responses = family[op: "responses"]
        let text = #"{"model":"gpt-4o-mini","input":"hi","temperature":0,"user":"u-1"}"#
        let request = try responses.httpRequest(try object(text), body: Array(text.utf8),
                                                endpoint: Endpoint(baseURL: "https://api.openai.com/v1/", credential: "k"))
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "https://api.openai.com/v1/responses")
        XCTAssertEqual(request.header("authorization"), "Bearer k")
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self), #"{"model":"gpt-4o-mini","input":"hi","temperature":0}"#)
        XCTAssertEqual(responses.routes, [.body("/responses")])
        XCTAssertEqual(responses.defaultTTL(try object(text)), 3600)
        XCTAssertEqual(responses.defaultTTL(try object(#"{"temperature":0.7}"#)), 1800)
        XCTAssertEqual(responses.defaultTTL(try object(#"{"text":{"temperature":0}}"#)), 1800, "only the top-level temperature")
        XCTAssertTrue(responses.streams(try object(#"{"stream":true}"#)))
        XCTAssertFalse(responses.streams(try object(#"{"model":"m"}"#)))
        XCTAssertEqual(responses.streamContentType, "text/event-stream; charset=utf-8")
        XCTAssertThrowsError(try responses.validate(try object(#"{"model":"m"}"#)), "no input")
        XCTAssertThrowsError(try responses.validate(try object(#"{"input":"hi"}"#)), "no model")
    }

    func testAResponseStreamIsCompleteOnlyWithResponseCompleted() throws {
        let responses = family[op: "responses"]
        XCTAssertTrue(responses.isComplete(Array(Self.responseStream.utf8)))
        let cut = Self.responseStream.range(of: "event: response.completed")!.lowerBound
        XCTAssertFalse(responses.isComplete(Array(Self.responseStream[..<cut].utf8)))
        XCTAssertFalse(responses.isComplete(Array(Self.responseStream.utf8.dropLast(3))), "the last event not ended")
        for failure in ["response.failed", "response.incomplete", "error"] {
            let failed = Self.responseStream[..<cut] + "event: \(failure)\ndata: {\"type\":\"\(failure)\",\"sequence_number\":2}\n\n"
            XCTAssertFalse(responses.isComplete(Array(failed.utf8)), failure)
        }
        XCTAssertFalse(responses.isComplete(Array(Self.stream.utf8)), "chat's data: [DONE] does not end it")
        XCTAssertTrue(responses.isComplete(Array(#"{"object":"response","output":[]}"#.utf8)), "a whole response")
    }

    func testResponsesUsageIsInputAndOutputTokens() throws {
        let responses = family[op: "responses"]
        let request = try object(#"{"model":"gpt-4o-mini","input":"hi","stream":true}"#)
        XCTAssertEqual(responses.usage(request, Array(Self.responseStream.utf8)),
                       TokenUsage(model: "gpt-4o-mini", inputTokens: 9, outputTokens: 1))
        let whole = #"{"object":"response","usage":{"input_tokens":5,"output_tokens":7,"total_tokens":12}}"#
        XCTAssertEqual(responses.usage(request, Array(whole.utf8)), TokenUsage(model: "gpt-4o-mini", inputTokens: 5, outputTokens: 7))
        let created = Self.responseStream.components(separatedBy: "event: response.output_text.delta")[0]
        XCTAssertNil(responses.usage(request, Array(created.utf8)), "no usage before response.completed")
    }

    func testEveryFamilyIsRegisteredOnce() {
        let names = FamilyRegistry.all.map(\.name)
        XCTAssertEqual(names, ["openai", "anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea",
                               "s3", "docker", "exec", "hf", "github", "codeql", "ipfs"])
        for name in names { XCTAssertEqual(FamilyRegistry.family(named: name)?.name, name) }
    }
}
