import CidCacheCore
@testable import CidCacheUpstreams
import Foundation
import XCTest

final class AnthropicFamilyTests: XCTestCase {
    private let family = AnthropicFamily()
    private let sample = #"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"temperature":0}"#

    func testRequestGoesToMessagesWithKeyAndVersionHeaders() throws {
        let endpoint = Endpoint(baseURL: "https://api.anthropic.com", credential: "test-anthropic-key")
        let body = Array(sample.utf8)
        let request = try family[op: "messages"].httpRequest(try object(sample), body: body, endpoint: endpoint)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "https://api.anthropic.com/v1/messages")
        XCTAssertEqual(request.header("x-api-key"), "test-anthropic-key")
        XCTAssertEqual(request.header("anthropic-version"), "2023-06-01")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, body)
    }

    func testNoKeyHeaderWithoutCredentialAndTheCredentialIsRequired() throws {
        let request = try family[op: "messages"].httpRequest(try object(sample), body: Array(sample.utf8),
                                             endpoint: Endpoint(baseURL: "http://127.0.0.1:9/", credential: nil))
        XCTAssertEqual(request.url, "http://127.0.0.1:9/v1/messages")
        XCTAssertNil(request.header("x-api-key"))
        XCTAssertTrue(family.requiresCredential)
        XCTAssertFalse(family.isCredentialScoped)
        XCTAssertEqual(family.versionHeaders.map(\.name), ["anthropic-version"])
    }

    func testTemperatureRule() throws {
        XCTAssertEqual(family[op: "messages"].defaultTTL(try object(#"{"temperature":0}"#)), 3600)
        XCTAssertEqual(family[op: "messages"].defaultTTL(try object(#"{"temperature":0.5}"#)), 1800)
        XCTAssertEqual(family[op: "messages"].defaultTTL(try object("{}")), 1800)
    }

    func testValidation() throws {
        XCTAssertNoThrow(try family[op: "messages"].validate(try object(sample)))
        for bad in [#"{"max_tokens":1,"messages":[]}"#, #"{"model":"m","messages":[]}"#, #"{"model":"m","max_tokens":1}"#,
                    #"{"model":1,"max_tokens":1,"messages":[]}"#, #"{"model":"m","max_tokens":"1","messages":[]}"#] {
            XCTAssertThrowsError(try family[op: "messages"].validate(try object(bad)), bad) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
            }
        }
    }

    func testUsageOfAWholeAnswer() throws {
        let answer = #"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":6}}"#
        XCTAssertEqual(family[op: "messages"].usage(try object(sample), Array(answer.utf8)),
                       TokenUsage(model: "claude-sonnet-4-5", inputTokens: 12, outputTokens: 6))
    }

    static let stream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

        event: message_stop
        data: {"type":"message_stop"}


        """

    func testUsageOfAStream() throws {
        XCTAssertEqual(family[op: "messages"].usage(try object(sample), Array(Self.stream.utf8)),
                       TokenUsage(model: "claude-sonnet-4-5", inputTokens: 25, outputTokens: 15))
    }

    func testStreamsOnlyWhenAsked() throws {
        XCTAssertTrue(family[op: "messages"].streams(try object(#"{"stream":true}"#)))
        XCTAssertFalse(family[op: "messages"].streams(try object(#"{"stream":false}"#)))
        XCTAssertFalse(family[op: "messages"].streams(try object(sample)))
    }

    func testCompleteAndTruncatedStreams() throws {
        let bytes = Array(Self.stream.utf8)
        XCTAssertTrue(family[op: "messages"].isComplete(bytes))
        let crlf = Array(Self.stream.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        XCTAssertTrue(family[op: "messages"].isComplete(crlf))
        let cut = Self.stream.range(of: "event: message_stop")!.lowerBound
        XCTAssertFalse(family[op: "messages"].isComplete(Array(Self.stream[..<cut].utf8)))
        let eventOnly = Self.stream.range(of: "data: {\"type\":\"message_stop\"}")!.lowerBound
        XCTAssertFalse(family[op: "messages"].isComplete(Array(Self.stream[..<eventOnly].utf8)))
        XCTAssertFalse(family[op: "messages"].isComplete(Array(bytes.dropLast(8))))
        XCTAssertFalse(family[op: "messages"].isComplete([]))
        let failed = Self.stream[..<cut] + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        XCTAssertFalse(family[op: "messages"].isComplete(Array(failed.utf8)))
    }
}
