import CidCacheCore
@testable import CidCacheUpstreams
import Foundation
import XCTest

final class GeminiFamilyTests: XCTestCase {
    private let family = GeminiFamily()
    private let generate = #"{"model":"models/gemini-2.0-flash", "contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0}}"#

    func testGenerateContentPathHeadersAndBodyWithoutTheModel() throws {
        let endpoint = Endpoint(baseURL: "https://generativelanguage.googleapis.com", credential: "test-gemini-key")
        let request = try family[op: "generateContent"].httpRequest(try object(generate),
                                             body: Array(generate.utf8), endpoint: endpoint)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent")
        XCTAssertEqual(request.header("x-goog-api-key"), "test-gemini-key")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertFalse(request.url.contains("key="))
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self),
                       #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0}}"#)
    }

    func testEmbedContentWithABareModelName() throws {
        let text = #"{"content":{"parts":[{"text":"hello"}]},"model":"text-embedding-004","taskType":"RETRIEVAL_QUERY"}"#
        let request = try family[op: "embedContent"].httpRequest(try object(text), body: Array(text.utf8),
                                             endpoint: Endpoint(baseURL: "http://127.0.0.1:7/", credential: nil))
        XCTAssertEqual(request.url, "http://127.0.0.1:7/v1beta/models/text-embedding-004:embedContent")
        XCTAssertNil(request.header("x-goog-api-key"))
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self),
                       #"{"content":{"parts":[{"text":"hello"}]},"taskType":"RETRIEVAL_QUERY"}"#)
    }

    func testTTLs() throws {
        XCTAssertEqual(family[op: "generateContent"].defaultTTL(try object(generate)), 3600)
        XCTAssertEqual(family[op: "generateContent"].defaultTTL(try object(#"{"generationConfig":{"temperature":1}}"#)), 1800)
        XCTAssertEqual(family[op: "generateContent"].defaultTTL(try object(#"{"temperature":0}"#)), 1800)
        XCTAssertEqual(family[op: "embedContent"].defaultTTL(try object("{}")), 86_400)
    }

    func testValidation() throws {
        XCTAssertNoThrow(try family[op: "generateContent"].validate(try object(generate)))
        let cases: [(String, String)] = [
            ("generateContent", #"{"contents":[]}"#),
            ("generateContent", #"{"model":"gemini-2.0-flash"}"#),
            ("generateContent", #"{"model":7,"contents":[]}"#),
            ("generateContent", #"{"model":"models/","contents":[]}"#),
            ("embedContent", #"{"model":"text-embedding-004"}"#),
        ]
        for (op, text) in cases {
            XCTAssertThrowsError(try family[op: op].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
            }
        }
        XCTAssertTrue(family.requiresCredential)
        XCTAssertFalse(family[op: "generateContent"].streams(try object(#"{"stream":true}"#)))
    }

    func testUsage() throws {
        let answer = #"{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":9,"totalTokenCount":13},"modelVersion":"gemini-2.0-flash"}"#
        XCTAssertEqual(family[op: "generateContent"].usage(try object(generate), Array(answer.utf8)),
                       TokenUsage(model: "gemini-2.0-flash", inputTokens: 4, outputTokens: 9))
        let thinking = #"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":9,"thoughtsTokenCount":20,"totalTokenCount":33}}"#
        XCTAssertEqual(family[op: "generateContent"].usage(try object(generate), Array(thinking.utf8))?.outputTokens, 29)
        XCTAssertNil(family[op: "embedContent"].usage(try object(generate), Array(#"{"embedding":{"values":[0.1,0.2]}}"#.utf8)))
    }

    /// A streamed answer as Google sends one with `alt=sse`: chunks, the usage so far on each, the last with its `finishReason`.
    static let stream = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"},\"index\":0}],"
        + "\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4},\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n"
        + "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lo\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
        + "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":9,\"totalTokenCount\":13},\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n"

    func testStreamGenerateContentAsksForServerSentEvents() throws {
        let endpoint = Endpoint(baseURL: "https://generativelanguage.googleapis.com", credential: "test-gemini-key")
        let stream = family[op: "streamGenerateContent"]
        let request = try stream.httpRequest(try object(generate), body: Array(generate.utf8), endpoint: endpoint)
        XCTAssertEqual(request.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
        XCTAssertEqual(request.header("x-goog-api-key"), "test-gemini-key")
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self),
                       #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0}}"#)
        XCTAssertEqual(stream.routes, [.body("/v1beta/models/{model}:streamGenerateContent", query: "alt=sse")])
        XCTAssertEqual(stream.pathOnlyFields, ["model"])
        XCTAssertTrue(stream.streams(try object(generate)), "it always streams")
        XCTAssertEqual(stream.streamContentType, "text/event-stream")
        XCTAssertEqual(stream.defaultTTL(try object(generate)), 3600)
        XCTAssertEqual(stream.defaultTTL(try object("{}")), 1800)
        XCTAssertThrowsError(try stream.validate(try object(#"{"model":"gemini-2.0-flash"}"#)), "no contents")
    }

    func testAStreamIsCompleteOnceItsLastChunkHasAFinishReason() throws {
        let stream = family[op: "streamGenerateContent"]
        XCTAssertTrue(stream.isComplete(Array(Self.stream.utf8)))
        let first = Self.stream.components(separatedBy: "\r\n\r\n")[0] + "\r\n\r\n"
        XCTAssertFalse(stream.isComplete(Array(first.utf8)), "cut before the finishReason")
        XCTAssertFalse(stream.isComplete(Array(Self.stream.utf8.dropLast(4))), "the last chunk not ended")
        let failed = first + "data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n"
        XCTAssertFalse(stream.isComplete(Array(failed.utf8)), "an error chunk last")
        XCTAssertTrue(stream.isComplete(Array(#"data: {"promptFeedback":{"blockReason":"SAFETY"}}\#r\#n\#r\#n"#.utf8)), "a blocked prompt")
        XCTAssertEqual(stream.usage(try object(generate), Array(Self.stream.utf8)),
                       TokenUsage(model: "gemini-2.0-flash", inputTokens: 4, outputTokens: 9))
    }
}
