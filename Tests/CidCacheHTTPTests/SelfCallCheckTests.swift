import CidCacheCore
import CidCacheEngine
@testable import CidCacheHTTP
import CidCacheUpstreams
import XCTest

/// A namespace whose upstream is the front's own address, and the hop mark that catches the loops a start cannot see.
final class SelfCallCheckTests: XCTestCase {
    func testEveryLoopbackSpellingOfTheFrontsPortIsTheFront() throws {
        let address = try ListenAddress(parsing: "127.0.0.1:8421")
        for url in ["http://127.0.0.1:8421/openai", "http://localhost:8421", "http://[::1]:8421/v1", "http://127.0.0.2:8421",
                    "http://0.0.0.0:8421/x", "HTTP://LOCALHOST:8421/openai"] {
            XCTAssertTrue(SelfCallCheck.isFront(url, address: address), url)
        }
        for url in ["http://127.0.0.1:8422/openai", "https://api.openai.com/v1", "http://10.0.0.1:8421", "http://localhost",
                    "unix:///var/run/docker.sock"] {
            XCTAssertFalse(SelfCallCheck.isFront(url, address: address), url)
        }
        XCTAssertTrue(SelfCallCheck.isFront("http://localhost/", address: try ListenAddress(parsing: "localhost:80")))
    }

    func testTheRefusalNamesTheVariableAndHowToStartWithoutIt() throws {
        let address = try ListenAddress(parsing: "127.0.0.1:8421")
        let namespaces = try NamespaceResolver.resolve(config: CacheConfig(),
                                                       environment: ["OPENAI_BASE_URL": "http://localhost:8421/openai"],
                                                       secret: Array(repeating: 7, count: 32))
        XCTAssertThrowsError(try SelfCallCheck.check(namespaces, address: address)) { error in
            let message = (error as? CacheError)?.message ?? ""
            XCTAssertTrue(message.contains("namespace openai") && message.contains("env -u OPENAI_BASE_URL"), message)
        }
        XCTAssertNoThrow(try SelfCallCheck.check(namespaces, address: try ListenAddress(parsing: "127.0.0.1:8422")))
    }

    func testOnlyThisProcesssOwnMarkCounts() {
        XCTAssertTrue(HopMark.isOwn([HopMark.value]))
        XCTAssertTrue(HopMark.isOwn(["0123456789abcdef", "feedfacecafebeef, \(HopMark.value)"]))
        XCTAssertFalse(HopMark.isOwn(["0123456789abcdef"]))
        XCTAssertFalse(HopMark.isOwn([]))
    }

    func testTheMarksARequestCameWithAreCarriedBeforeOurOwn() {
        XCTAssertEqual(HopMark.marks(in: ["aa, bb", " cc ", ""]), ["aa", "bb", "cc"])
        XCTAssertEqual(HopMark.outgoing, HopMark.value)
        HopMark.$carried.withValue(["aa", "bb"]) {
            XCTAssertEqual(HopMark.outgoing, "aa, bb, \(HopMark.value)")
        }
    }
}
