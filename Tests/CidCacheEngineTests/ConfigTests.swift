import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

final class ConfigTests: XCTestCase {
    private func parse(_ text: String) throws -> CacheConfig {
        try CacheConfig.parse(Array(text.utf8))
    }

    func testDefaults() throws {
        let config = try parse("{}")
        XCTAssertFalse(config.offline)
        XCTAssertEqual(config.upstreamTimeoutSeconds, 300)
        XCTAssertEqual(config.requestLimitBytes, 8 * 1024 * 1024)
        XCTAssertEqual(config.staleWindowSeconds, 86_400)
    }

    func testEverySetting() throws {
        let config = try parse("""
        {"offline": true, "upstream_timeout_s": 2.5, "request_limit_bytes": 1024, "stale_window_s": 0,
         "ttl": {"openai": {"embeddings": 60}},
         "namespaces": {"local": {"family": "openai", "url": "http://127.0.0.1:9/v1", "key_env": "LOCAL_KEY", "ttl": {"completions": 5}}},
         "prices": {"m": {"input_per_mtok": 1, "output_per_mtok": 2}},
         "private": {"openai": ["completions"]}}
        """)
        XCTAssertTrue(config.offline)
        XCTAssertEqual(config.upstreamTimeoutSeconds, 2.5)
        XCTAssertEqual(config.requestLimitBytes, 1024)
        XCTAssertEqual(config.ttlOverrides["openai"]?["embeddings"], 60)
        XCTAssertEqual(config.ttlOverrides["local"]?["completions"], 5)
        XCTAssertEqual(config.namespaces["local"]?.keyEnvironmentVariable, "LOCAL_KEY")
        XCTAssertEqual(config.prices["m"], ModelPrice(inputPerMillion: 1, outputPerMillion: 2))
        XCTAssertTrue(config.isPrivate(namespace: "openai", op: "completions"))
        XCTAssertFalse(config.isPrivate(namespace: "openai", op: "embeddings"))
    }

    func testABuiltInNamespaceKeepsItsFamilyUnlessTheEntryNamesOne() throws {
        XCTAssertEqual(try parse(#"{"namespaces": {"openai": {"ttl": {"embeddings": 5}}}}"#).namespaces["openai"]?.family, "openai")
        XCTAssertEqual(try parse(#"{"namespaces": {"openai": {"family": "ollama"}}}"#).namespaces["openai"]?.family, "ollama")
        XCTAssertThrowsError(try parse(#"{"namespaces": {"mine": {"url": "http://127.0.0.1:9/v1"}}}"#)) { error in
            XCTAssertTrue((error as? CacheError)?.message.contains("namespaces.mine.family is required") == true)
        }
    }

    func testTheHTTPFrontsCallerKeySettings() throws {
        let config = try parse(#"{"http": {"listen": "127.0.0.1:1", "keys_file": "/k.json", "require_key": true}}"#)
        XCTAssertEqual(config.httpKeysFile, "/k.json")
        XCTAssertTrue(config.httpRequiresKey)
        XCTAssertFalse(try parse("{}").httpRequiresKey)
        for (text, member) in [(#"{"http": {"keys_file": 1}}"#, "http.keys_file"), (#"{"http": {"require_key": "yes"}}"#, "http.require_key"),
                               (#"{"http": {"keys": "x"}}"#, "http.keys")] {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertTrue((error as? CacheError)?.message.contains(member) == true, text)
            }
        }
    }

    /// `ttl` and `namespaces.X.ttl` merge per operation, the namespace's own
    /// section winning where both name one, whichever comes first in the file.
    func testTTLOverridesDoNotDependOnKeyOrder() throws {
        let section = #""ttl": {"local": {"completions": 60, "embeddings": 70}}"#
        let own = #""namespaces": {"local": {"family": "openai", "ttl": {"completions": 5}}}"#
        for text in ["{\(section), \(own)}", "{\(own), \(section)}"] {
            let config = try parse(text)
            XCTAssertEqual(config.ttlOverrides["local"], ["completions": 5, "embeddings": 70], text)
        }
    }

    func testBadSettingsAreRefusedByName() {
        for (text, fragment) in [
            (#"{"upstream_timeout_s": -1}"#, "upstream_timeout_s"),
            (#"{"offline": "yes"}"#, "offline"),
            (#"{"bogus": 1}"#, "bogus"),
            (#"{"namespaces": {"x": {"url": "http://h"}}}"#, "family"),
            ("[]", "object"),
            ("{", "config"),
        ] {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error) should name \(fragment)")
            }
        }
    }
}
