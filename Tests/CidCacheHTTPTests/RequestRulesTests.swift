import CidCacheCore
import CidCacheEngine
@testable import CidCacheHTTP
import XCTest

/// What the front takes from a request: its listen address, Cache-Control, and the headers that cross it.
final class RequestRulesTests: XCTestCase {
    func testLoopbackAddressesAreAccepted() throws {
        XCTAssertEqual(try ListenAddress(parsing: "127.0.0.1:8421"), try ListenAddress(parsing: "127.0.0.1:8421"))
        let v4 = try ListenAddress(parsing: "127.0.0.1:8421")
        XCTAssertEqual(v4.host, "127.0.0.1")
        XCTAssertEqual(v4.port, 8421)
        XCTAssertEqual(try ListenAddress(parsing: "127.8.9.10:1").host, "127.8.9.10")
        XCTAssertEqual(try ListenAddress(parsing: "localhost:8421").host, "localhost")
        let v6 = try ListenAddress(parsing: "[::1]:8421")
        XCTAssertEqual(v6.host, "::1")
        XCTAssertEqual(v6.description, "[::1]:8421")
    }

    func testOtherAddressesAreRefusedSayingWhy() {
        for text in ["0.0.0.0:8421", "192.168.1.2:80", "[::]:8421", "example.com:8421", "128.0.0.1:1"] {
            XCTAssertThrowsError(try ListenAddress(parsing: text), text) { error in
                XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest)
                XCTAssertTrue((error as? CacheError)?.message.contains("loopback addresses only") == true, text)
            }
        }
    }

    func testMalformedAddressesAreRefused() {
        for text in ["127.0.0.1", "127.0.0.1:", ":8421", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80",
                     "::1:8421", "[::1]8421", "127.0.0.256:80", "127.0.0:80"] {
            XCTAssertThrowsError(try ListenAddress(parsing: text), text) { error in
                XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest, text)
            }
        }
    }

    func testCacheControlAsksForARefreshOrABypass() {
        XCTAssertEqual(HeaderRules.options([("Cache-Control", "no-cache")], credential: nil).refresh, true)
        XCTAssertEqual(HeaderRules.options([("cache-control", "max-age=0, No-Store")], credential: nil).noStore, true)
        let plain = HeaderRules.options([("Accept", "application/json")], credential: "sk-test-not-a-real-key")
        XCTAssertFalse(plain.refresh)
        XCTAssertFalse(plain.noStore)
        XCTAssertEqual(plain.credential, "sk-test-not-a-real-key")
    }

    func testMaxAgeZeroAndPragmaAskForARefresh() {
        XCTAssertTrue(HeaderRules.options([("Cache-Control", "max-age=0")], credential: nil).refresh)
        XCTAssertTrue(HeaderRules.options([("Cache-Control", "private, Max-Age = 0")], credential: nil).refresh)
        XCTAssertFalse(HeaderRules.options([("Cache-Control", "max-age=60")], credential: nil).refresh)
        XCTAssertTrue(HeaderRules.options([("Pragma", "no-cache")], credential: nil).refresh)
        // Pragma stands only where Cache-Control is absent (RFC 9111 §5.4).
        XCTAssertFalse(HeaderRules.options([("Pragma", "no-cache"), ("Cache-Control", "max-age=60")], credential: nil).refresh)
    }

    func testHopByHopHeadersStayBehind() {
        let kept = HeaderRules.forwarded([("Host", "127.0.0.1:8421"), ("Connection", "keep-alive"), ("content-length", "3"),
                                          ("Accept-Encoding", "gzip"), ("Authorization", "Bearer sk-test-fake"),
                                          ("OpenAI-Beta", "assistants=v2")])
        XCTAssertEqual(kept.map(\.name), ["Authorization", "OpenAI-Beta"])
    }
}
