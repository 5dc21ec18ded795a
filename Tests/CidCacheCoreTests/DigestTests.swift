import XCTest
@testable import CidCacheCore

final class DigestTests: XCTestCase {
    // FIPS 180-4 example vectors.
    private let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    private let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    private let twoBlocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    private let twoBlockMessage = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    private let millionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

    func testSHA256OneShot() {
        XCTAssertEqual(Hex.encode(SHA256.hash([])), empty)
        XCTAssertEqual(Hex.encode(SHA256.hash(utf8("abc"))), abc)
        XCTAssertEqual(Hex.encode(SHA256.hash(utf8(twoBlockMessage))), twoBlocks)
        XCTAssertEqual(Hex.encode(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))), millionA)
        XCTAssertEqual(SHA256.hash(utf8("x")).count, SHA256.digestLength)
    }

    func testIncrementalHashingInChunks() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        for chunk in [1, 7, 64, 4096, 333_333] {
            var hasher = SHA256Hasher()
            var offset = 0
            while offset < message.count {
                let end = min(offset + chunk, message.count)
                hasher.update(Array(message[offset..<end]))
                offset = end
            }
            XCTAssertEqual(Hex.encode(hasher.finalize()), millionA, "chunk \(chunk)")
        }
    }

    func testPointerAndBufferUpdates() {
        let message = utf8(twoBlockMessage)
        var hasher = SHA256Hasher()
        message.withUnsafeBytes { buffer in
            hasher.update(buffer.baseAddress!, count: 10)
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[10...]))
        }
        hasher.update(UnsafeRawBufferPointer(start: nil, count: 0))
        hasher.update([])
        XCTAssertEqual(Hex.encode(hasher.finalize()), twoBlocks)
        XCTAssertEqual(Hex.encode(SHA256Hasher().finalize()), empty)
    }

    func testFinalizeLeavesTheHasherUsable() {
        var hasher = SHA256Hasher()
        hasher.update(utf8("ab"))
        XCTAssertEqual(Hex.encode(hasher.finalize()), Hex.encode(SHA256.hash(utf8("ab"))))
        hasher.update(utf8("c"))
        XCTAssertEqual(Hex.encode(hasher.finalize()), abc)
        XCTAssertEqual(Hex.encode(hasher.finalize()), abc)
    }

    func testCopiesAreIndependentValues() {
        var original = SHA256Hasher()
        original.update(utf8("ab"))
        var copy = original
        copy.update(utf8("c"))
        XCTAssertEqual(Hex.encode(copy.finalize()), abc)
        XCTAssertEqual(original.finalize(), SHA256.hash(utf8("ab")))
        original.update(utf8("x"))
        XCTAssertEqual(copy.finalize(), SHA256.hash(utf8("abc")))
        XCTAssertEqual(original.finalize(), SHA256.hash(utf8("abx")))
    }

    // RFC 4231 test cases 1, 2 and 6, and the empty key and message.
    func testHMACSHA256() {
        XCTAssertEqual(Hex.encode(HMACSHA256.authenticate(message: utf8("Hi There"),
                                                          key: [UInt8](repeating: 0x0B, count: 20))),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(Hex.encode(HMACSHA256.authenticate(message: utf8("what do ya want for nothing?"),
                                                          key: utf8("Jefe"))),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(Hex.encode(HMACSHA256.authenticate(
                           message: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
                           key: [UInt8](repeating: 0xAA, count: 131))),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        XCTAssertEqual(Hex.encode(HMACSHA256.authenticate(message: [], key: [])),
                       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        XCTAssertNotEqual(HMACSHA256.authenticate(message: utf8("m"), key: utf8("k1")),
                          HMACSHA256.authenticate(message: utf8("m"), key: utf8("k2")))
    }

    func testHex() {
        XCTAssertEqual(Hex.encode([]), "")
        XCTAssertEqual(Hex.encode([0x00, 0x0F, 0xA0, 0xFF]), "000fa0ff")
        XCTAssertEqual(Hex.decode("000fa0ff"), [0x00, 0x0F, 0xA0, 0xFF])
        XCTAssertEqual(Hex.decode("000FA0FF"), [0x00, 0x0F, 0xA0, 0xFF])
        XCTAssertEqual(Hex.decode(""), [])
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
        XCTAssertNil(Hex.decode("0x"))
        let all = (0...255).map(UInt8.init)
        XCTAssertEqual(Hex.decode(Hex.encode(all)), all)
    }
}
