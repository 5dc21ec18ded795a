import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

/// The reader that frames an answer and reads its usage in one pass, fed in chunks.
final class AnswerReaderTests: XCTestCase {
    private func read(_ text: String, _ framing: Framing, usage: UsageReader? = .openAI, chunk: Int,
                      request: JSONObject = ["model": "m"]) -> AnswerSummary {
        let body = Array(text.utf8)
        var reader = AnswerReader(framing: framing, usage: usage)
        for start in stride(from: 0, to: body.count, by: chunk) {
            reader.consume(body[start..<min(start + chunk, body.count)])
        }
        return reader.finish(body: body, request: request)
    }

    private let events = Framing.serverSentEvents(until: .done, when: .whenAsked)

    func testEventStreamEndsWithDoneAndKeepsTheLastUsage() {
        let stream = "data: {\"usage\":null}\r\n\r\ndata: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"
        for chunk in [1, 2, 5, 1000] {
            let summary = read(stream, events, chunk: chunk)
            XCTAssertTrue(summary.isComplete, "\(chunk)")
            XCTAssertEqual(summary.usage, TokenUsage(model: "m", inputTokens: 3, outputTokens: 4))
            XCTAssertFalse(read(String(stream.dropLast(3)), events, chunk: chunk).isComplete)
            XCTAssertFalse(read("data: [DONE]", events, chunk: chunk).isComplete, "a cut line")
        }
    }

    func testAWholeJSONAnswerIsCompleteAndParsedOnce() {
        let whole = "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"
        XCTAssertEqual(read(whole, events, chunk: 3), AnswerSummary(isComplete: true, usage: TokenUsage(model: "m", inputTokens: 1, outputTokens: 2)))
        XCTAssertEqual(read(whole, .whole, chunk: 3).usage?.outputTokens, 2)
        XCTAssertEqual(read("", events, chunk: 1), AnswerSummary(isComplete: false, usage: nil))
        XCTAssertEqual(read("not json", .whole, chunk: 4), AnswerSummary(isComplete: true, usage: nil))
    }

    func testAnEventTypeEndsTheStream() {
        let framing = Framing.serverSentEvents(until: .eventType("message_stop"), when: .whenAsked)
        let stream = "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        XCTAssertTrue(read(stream, framing, usage: nil, chunk: 4).isComplete)
        XCTAssertFalse(read(String(stream.prefix(40)), framing, usage: nil, chunk: 4).isComplete)
    }

    func testALastEventTheFamilyRecognizesEndsTheStream() {
        let framing = Framing.serverSentEvents(until: .lastEvent { $0["finished"]?.boolValue == true }, when: .always)
        let stream = "data: {\"finished\":false}\r\n\r\ndata: {\"finished\":true}\r\n\r\n"
        XCTAssertTrue(read(stream, framing, usage: nil, chunk: 5).isComplete)
        XCTAssertFalse(read(String(stream.prefix(26)), framing, usage: nil, chunk: 5).isComplete, "the first event alone")
        XCTAssertFalse(read(String(stream.dropLast(2)), framing, usage: nil, chunk: 5).isComplete, "no blank line after it")
        XCTAssertFalse(read("data: [DONE]\n\n", framing, usage: nil, chunk: 5).isComplete, "not JSON")
    }

    func testNDJSONTerminals() {
        let done = Framing.ndjson(until: .doneMember, when: .unlessDeclined)
        let lines = "{\"done\":false}\n{\"done\":true,\"eval_count\":2}\n"
        let counts = UsageReader { answer in
            answer["eval_count"]?.intValue.map { TokenUsage(model: nil, inputTokens: 0, outputTokens: $0) }
        }
        XCTAssertEqual(read(lines, done, usage: counts, chunk: 3), AnswerSummary(isComplete: true, usage: TokenUsage(model: "m", inputTokens: 0, outputTokens: 2)))
        XCTAssertFalse(read("{\"done\":false}\n", done, chunk: 3).isComplete)
        // A whole answer written over several lines still reports its usage.
        XCTAssertEqual(read("{\n\"eval_count\": 5\n}\n", done, usage: counts, chunk: 2).usage?.outputTokens, 5)

        let kubo = Framing.ndjson(until: .newlineAfterValue, when: .always)
        XCTAssertTrue(read("", kubo, chunk: 1).isComplete)
        XCTAssertTrue(read(" \n", kubo, chunk: 1).isComplete)
        XCTAssertTrue(read("{\"a\":1}\n{\"b\":2}\n", kubo, chunk: 5).isComplete)
        XCTAssertFalse(read("{\"a\":1}\n{\"b\":2}", kubo, chunk: 5).isComplete)
        XCTAssertFalse(read("{\"a\":1}\n{\"b\":\n", kubo, chunk: 5).isComplete)
    }

    func testStreamRules() {
        XCTAssertTrue(StreamRule.whenAsked.streams(["stream": true]))
        XCTAssertFalse(StreamRule.whenAsked.streams(["stream": "true"]))
        XCTAssertTrue(StreamRule.unlessDeclined.streams(["stream": .null]))
        XCTAssertFalse(StreamRule.unlessDeclined.streams(["stream": false]))
        XCTAssertFalse(Framing.whole.streams(["stream": true]))
    }
}
