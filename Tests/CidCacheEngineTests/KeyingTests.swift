import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import XCTest

final class KeyingTests: XCTestCase {
    private var directory: String!
    private var engine: CacheEngine!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-keying-\(UUID().uuidString)"
        engine = try CacheEngine(dataDirectory: directory, config: CacheConfig(),
                                 environment: ["CIDCACHE_OPENAI_KEY": "sk-test-not-a-real-key-0001"], truncateLogs: true)
    }

    override func tearDown() async throws {
        await engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func prepare(_ text: String, op: String = "chat.completions") throws -> PreparedQuery {
        try engine.prepare(namespace: "openai", op: op, body: Array(text.utf8))
    }

    func testSpecVector() throws {
        let query = try prepare(#"{"temperature":0.0, "model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(query.requestCID.string, "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya")
        XCTAssertEqual(String(decoding: query.keyDocument, as: UTF8.self),
                       #"{"namespace":"openai","op":"chat.completions","request":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","temperature":0}}"#)
    }

    func testDroppedFieldsDoNotChangeTheKeyButLeaveTheRestOfTheBytes() throws {
        let plain = try prepare(#"{"model":"m","messages":[]}"#)
        let labelled = try prepare(#"{"user":"u1", "model":"m","metadata":{"a":1},"messages":[] ,"cidcache":{"ttl":5},"store":true}"#)
        XCTAssertEqual(plain.requestCID, labelled.requestCID)
        XCTAssertEqual(labelled.control.ttl, 5)
        XCTAssertEqual(String(decoding: labelled.upstreamBody, as: UTF8.self), #"{"model":"m","messages":[]}"#)
    }

    func testEveryAnswerChangingFieldStaysInTheKey() throws {
        let base = try prepare(#"{"model":"m","messages":[]}"#).requestCID
        for field in [#""max_tokens":5"#, #""stream":false"#, #""n":1"#, #""seed":1"#, #""top_p":1"#] {
            XCTAssertNotEqual(try prepare(#"{"model":"m","messages":[],"# + field + "}").requestCID, base, field)
        }
    }

    func testRefusals() {
        for (text, kind) in [
            ("not json", CacheError.Kind.invalidRequest), ("[1]", .invalidRequest),
            (#"{"model":"m","model":"n","messages":[]}"#, .invalidRequest),
            (#"{"model":"m","messages":[],"seed":9007199254740993}"#, .invalidRequest),
            (#"{"messages":[]}"#, .invalidRequest),
            (#"{"model":"m","messages":[],"cidcache":{"bogus":1}}"#, .invalidRequest),
        ] {
            XCTAssertThrowsError(try prepare(text), text) { error in
                XCTAssertEqual((error as? CacheError)?.kind, kind, text)
            }
        }
        XCTAssertThrowsError(try engine.prepare(namespace: "nope", op: "x", body: Array("{}".utf8))) { error in
            XCTAssertEqual((error as? CacheError)?.kind, .notFound)
        }
    }

    func testScrubRemovesTheKeyAndKeyLikeFragments() {
        // Key-shaped strings built here, so no scanner takes this file for a leak.
        let prefix = "sk" + "-test-"
        let endpoint = Endpoint(baseURL: "http://x", credential: prefix + "secret-0001")
        let scrubbed = UpstreamCaller.scrub("Incorrect API key provided: \(prefix)***0001 and \(prefix)secret-0001, Bearer abc",
                                            endpoint: endpoint)
        XCTAssertFalse(scrubbed.contains("secret"))
        XCTAssertFalse(scrubbed.contains("0001"))
        XCTAssertFalse(scrubbed.contains("abc"))

        // Shaped like real keys (built here, so no scanner takes this file for a leak).
        let google = "AIza" + "Sy" + String(repeating: "t3st", count: 8) + "_-x"
        let github = "ghp" + "_" + String(repeating: "T", count: 36)
        let aws = "AKIA" + String(repeating: "T", count: 16)
        let echoed = UpstreamCaller.scrub("key \(google) invalid; token \(github); id \(aws).", endpoint: endpoint)
        XCTAssertEqual(echoed, "key [redacted] invalid; token [redacted]; id [redacted].")
    }
}
