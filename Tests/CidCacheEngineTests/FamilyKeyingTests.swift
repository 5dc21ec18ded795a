import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import XCTest

/// What the engine keys and sends for a family's request: the dropped fields
/// leave the key and the upstream body, the rest stays in both.
final class FamilyKeyingTests: XCTestCase {
    private var directory: String!
    private var engine: CacheEngine!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-family-keying-\(UUID().uuidString)"
        engine = try CacheEngine(dataDirectory: directory, config: CacheConfig(),
                                 environment: ["ANTHROPIC_API_KEY": "k"], truncateLogs: true)
    }

    override func tearDown() async throws {
        await engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testAnthropicDropsMetadataOnly() throws {
        let sample = #"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"temperature":0}"#
        let plain = try engine.prepare(namespace: "anthropic", op: "messages", body: Array(sample.utf8))
        let labelled = try engine.prepare(namespace: "anthropic", op: "messages", body: Array(
            #"{"metadata":{"user_id":"u-1"},"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"temperature":0}"#.utf8))
        XCTAssertEqual(plain.requestCID, labelled.requestCID)
        XCTAssertEqual(String(decoding: labelled.upstreamBody, as: UTF8.self), sample)
        let messages = try XCTUnwrap(AnthropicFamily().operation(named: "messages"))
        XCTAssertEqual(messages.droppedFields, ["metadata"])
        let other = try engine.prepare(namespace: "anthropic", op: "messages", body: Array(
            #"{"model":"claude-sonnet-4-5","max_tokens":65,"messages":[{"role":"user","content":"hi"}],"temperature":0}"#.utf8))
        XCTAssertNotEqual(plain.requestCID, other.requestCID)
        for field in ["stream", "top_k", "system", "stop_sequences"] {
            XCTAssertFalse(messages.droppedFields.contains(field))
        }
    }

    func testGeminiKeepsTheModelInTheKeyAndDropsNothing() throws {
        let generate = #"{"model":"models/gemini-2.0-flash", "contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0}}"#
        let a = try engine.prepare(namespace: "gemini", op: "generateContent", body: Array(generate.utf8))
        let b = try engine.prepare(namespace: "gemini", op: "generateContent",
                                   body: Array(generate.replacingOccurrences(of: "2.0-flash", with: "2.5-pro").utf8))
        XCTAssertNotEqual(a.requestCID, b.requestCID)
        XCTAssertEqual(a.request["model"]?.stringValue, "models/gemini-2.0-flash")
        for op in ["generateContent", "embedContent"] {
            XCTAssertEqual(GeminiFamily().operation(named: op)?.droppedFields, [], op)
        }
    }
}
