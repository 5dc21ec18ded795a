import XCTest
@testable import CidCacheCore

final class Base32Tests: XCTestCase {
    /// RFC 4648 section 10, in lower case without padding.
    let vectors: [(String, String)] = [
        ("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"),
        ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi"),
    ]

    func testRFC4648Vectors() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base32.encode(utf8(plain)), encoded)
            XCTAssertEqual(Base32.decode(encoded), utf8(plain))
        }
    }

    func testRoundTripsEveryLength() {
        var generator = SplitMix64(state: 4648)
        for length in 0..<80 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base32.encode(bytes)
            XCTAssertEqual(encoded.count, (length * 8 + 4) / 5)
            XCTAssertEqual(Base32.decode(encoded), bytes)
        }
    }

    func testRefusesAnythingEncodeWouldNotWrite() {
        XCTAssertNil(Base32.decode("MZXW6"), "upper case")
        XCTAssertNil(Base32.decode("mzXw6"), "mixed case")
        XCTAssertNil(Base32.decode("my======"), "padding")
        XCTAssertNil(Base32.decode("m"), "impossible length 1")
        XCTAssertNil(Base32.decode("mzx"), "impossible length 3")
        XCTAssertNil(Base32.decode("mzxw6y"), "impossible length 6")
        XCTAssertNil(Base32.decode("mz"), "stray bits in the last character")
        XCTAssertNil(Base32.decode("mzxr"), "stray bits in the last character")
        for bad in ["m0", "m1", "m8", "m9", "m-", "m ", "m\n", "mé"] {
            XCTAssertNil(Base32.decode(bad), bad.debugDescription)
        }
    }
}
