import CidCacheCore
@testable import CidCacheEngine
import Foundation
import XCTest

/// Which requests keep samples and how many (docs/REFERENCE.md §6, §8.1).
final class SampleKeyingTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-sample-keying-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func withEngine(_ config: String = "{}", _ body: (CacheEngine) throws -> Void) async throws {
        let engine = try CacheEngine(dataDirectory: directory, config: try CacheConfig.parse(Array(config.utf8)),
                                     environment: ["CIDCACHE_OPENAI_KEY": "sk-test-not-a-real-key-0001"], truncateLogs: true)
        do { try body(engine) } catch { await engine.shutdown(); throw error }
        await engine.shutdown()
    }

    private func prepare(_ engine: CacheEngine, _ text: String, namespace: String = "openai",
                         op: String = "chat.completions") throws -> PreparedQuery {
        try engine.prepare(namespace: namespace, op: op, body: Array(text.utf8))
    }

    func testSamplesApplyOnlyToSampledRequestsAndNeverChangeTheKey() async throws {
        try await withEngine { engine in
            let plain = try prepare(engine, #"{"model":"m","messages":[]}"#)
            let sampled = try prepare(engine, #"{"model":"m","messages":[],"cidcache":{"samples":3,"sample":2}}"#)
            XCTAssertEqual(sampled.requestCID, plain.requestCID)
            XCTAssertEqual([plain.samples, sampled.samples, sampled.sample], [1, 3, 2])
            let cold = try prepare(engine, #"{"model":"m","messages":[],"temperature":0,"cidcache":{"samples":3,"sample":2}}"#)
            XCTAssertEqual([cold.samples, cold.sample], [1, 0], "temperature 0 keeps one answer")
            let warm = try prepare(engine, #"{"model":"m","messages":[],"temperature":0.7,"cidcache":{"samples":3}}"#)
            XCTAssertEqual(warm.samples, 3)
            let embedding = try prepare(engine, #"{"model":"m","input":"x","cidcache":{"samples":3}}"#, op: "embeddings")
            XCTAssertEqual(embedding.samples, 1, "operations without the temperature rule keep one answer")
            let gemini = try prepare(engine, #"{"model":"g","contents":[],"generationConfig":{"temperature":0},"cidcache":{"samples":2}}"#,
                                     namespace: "gemini", op: "generateContent")
            XCTAssertEqual(gemini.samples, 1)
        }
    }

    func testMalformedSampleControlsAreRefused() async throws {
        try await withEngine { engine in
            for control in [#"{"samples":0}"#, #"{"samples":65}"#, #"{"samples":"3"}"#, #"{"sample":-1}"#,
                            #"{"samples":3,"sample":3}"#, #"{"sample":1}"#, #"{"sample":1.5}"#] {
                XCTAssertThrowsError(try prepare(engine, #"{"model":"m","messages":[],"cidcache":"# + control + "}"), control) { error in
                    XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest, control)
                }
            }
        }
    }

    func testTheConfigSetsSamplesPerOperationAndTheRequestWins() async throws {
        let config = #"{"samples": {"openai": {"chat.completions": 4}}, "namespaces": {"anthropic": {"samples": {"messages": 2}}}}"#
        try await withEngine(config) { engine in
            XCTAssertEqual(try prepare(engine, #"{"model":"m","messages":[]}"#).samples, 4)
            XCTAssertEqual(try prepare(engine, #"{"model":"m","messages":[],"cidcache":{"samples":2}}"#).samples, 2)
            XCTAssertEqual(try prepare(engine, #"{"model":"m","messages":[],"cidcache":{"sample":3}}"#).sample, 3)
            let messages = try prepare(engine, #"{"model":"c","max_tokens":5,"messages":[]}"#, namespace: "anthropic", op: "messages")
            XCTAssertEqual(messages.samples, 2)
        }
        for bad in [#"{"samples": {"openai": {"chat.completions": 0}}}"#, #"{"namespaces": {"openai": {"samples": {"chat.completions": 65}}}}"#] {
            XCTAssertThrowsError(try CacheConfig.parse(Array(bad.utf8)), bad)
        }
    }
}
