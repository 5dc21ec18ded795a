import XCTest
@testable import CidCacheCore

final class CIDTests: XCTestCase {
    // The vectors of docs/REFERENCE.md §2.1 and §2.2.
    let helloWorld = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    let emptyBody = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    let helloWorldNewline = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    let keyDocumentCID = "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"

    func testContentCIDVectors() {
        XCTAssertEqual(CID.forContent(utf8("hello world")).string, helloWorld)
        XCTAssertEqual(CID.forContent([]).string, emptyBody)
        XCTAssertEqual(CID.forContent(utf8("hello world\n")).string, helloWorldNewline)
        XCTAssertEqual(CID.forContent([]).codec, .raw)
        XCTAssertEqual(CID.forContent([]).digest, SHA256.hash([]))
    }

    func testKeyDocumentCIDVector() {
        let document = #"{"namespace":"openai","op":"chat.completions","request":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","temperature":0}}"#
        let cid = CID.forKeyDocument(utf8(document))
        XCTAssertEqual(cid.string, keyDocumentCID)
        XCTAssertEqual(cid.codec, .json)
    }

    func testBinaryLayout() {
        let raw = CID.forContent(utf8("hello world"))
        XCTAssertEqual(Array(raw.bytes.prefix(4)), [0x01, 0x55, 0x12, 0x20])
        XCTAssertEqual(Array(raw.bytes.dropFirst(4)), SHA256.hash(utf8("hello world")))
        let json = CID.forKeyDocument(utf8("{}"))
        XCTAssertEqual(Array(json.bytes.prefix(5)), [0x01, 0x80, 0x04, 0x12, 0x20])
        XCTAssertEqual(json.bytes.count, 37)
        XCTAssertEqual(raw.string.count, 59)
        XCTAssertEqual(json.string.count, 61)
        XCTAssertTrue(raw.string.hasPrefix("bafkrei"))
        XCTAssertTrue(json.string.hasPrefix("bagaaiera"))
        XCTAssertEqual(CID(bytes: raw.bytes), raw)
        XCTAssertEqual(CID(bytes: json.bytes), json)
    }

    func testVarints() {
        XCTAssertEqual(CID.varint(0), [0x00])
        XCTAssertEqual(CID.varint(1), [0x01])
        XCTAssertEqual(CID.varint(0x55), [0x55])
        XCTAssertEqual(CID.varint(0x7F), [0x7F])
        XCTAssertEqual(CID.varint(0x80), [0x80, 0x01])
        XCTAssertEqual(CID.varint(0x0200), [0x80, 0x04])
        XCTAssertEqual(CID.varint(300), [0xAC, 0x02])
        var padded = ArraySlice<UInt8>([0x80, 0x00])
        XCTAssertNil(CID.readVarint(&padded), "not minimal")
        var truncated = ArraySlice<UInt8>([0x80])
        XCTAssertNil(CID.readVarint(&truncated))
        var good = ArraySlice<UInt8>([0xAC, 0x02, 0x09])
        XCTAssertEqual(CID.readVarint(&good), 300)
        XCTAssertEqual(good.first, 0x09)
        var tooLong = ArraySlice<UInt8>(Array(repeating: 0x81, count: 9) + [0x01])
        XCTAssertNil(CID.readVarint(&tooLong))
    }

    func testParsesAndFormatsRoundTrip() throws {
        for string in [helloWorld, emptyBody, helloWorldNewline, keyDocumentCID] {
            let cid = try XCTUnwrap(CID(string), string)
            XCTAssertEqual(cid.string, string)
            XCTAssertEqual(cid.description, string)
            XCTAssertEqual("\(cid)", string)
            XCTAssertEqual(CID(cid.string), cid)
        }
        XCTAssertEqual(CID(helloWorld), CID.forContent(utf8("hello world")))
        XCTAssertEqual(CID(keyDocumentCID)?.codec, .json)
        XCTAssertEqual(CID(emptyBody)?.digest, SHA256.hash([]))
    }

    func testRandomDigestsRoundTrip() throws {
        var generator = SplitMix64(state: 0x1220)
        for index in 0..<200 {
            let digest = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let cid = try XCTUnwrap(CID(codec: index % 2 == 0 ? .raw : .json, sha256: digest))
            XCTAssertEqual(CID(cid.string), cid)
            XCTAssertEqual(CID(bytes: cid.bytes), cid)
        }
    }

    func testRejectsMalformedText() {
        let valid = helloWorld
        let body = String(valid.dropFirst())
        let rejected: [(String, String)] = [
            ("", "empty"),
            ("b", "prefix only"),
            ("B" + body, "upper-case multibase prefix"),
            ("B" + body.uppercased(), "upper-case base32 (multibase B)"),
            ("b" + body.uppercased(), "upper-case body"),
            ("b" + body.prefix(10) + body.dropFirst(10).prefix(1).uppercased() + body.dropFirst(11), "one upper-case letter"),
            ("z" + body, "wrong multibase"),
            ("f" + body, "wrong multibase"),
            (body, "no multibase prefix"),
            ("QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u", "CIDv0"),
            (String(valid.dropLast()), "one character short"),
            (valid + "a", "one character long"),
            (valid + "aa", "two characters long"),
            (String(valid.dropLast(2)), "a byte short"),
            (valid + "====", "padding"),
            (String(valid.dropLast()) + "1", "bad character 1"),
            (String(valid.dropLast()) + "8", "bad character 8"),
            (String(valid.dropLast()) + "0", "bad character 0"),
            (String(valid.dropLast()) + "=", "bad character ="),
            (String(valid.dropLast()) + "-", "bad character -"),
            (" " + valid, "leading space"),
            (valid + "\n", "trailing newline"),
            (String(valid.dropLast()) + "f", "stray bits in the last character"),
            (String(keyDocumentCID.dropLast()) + "b", "stray bits in the last character"),
        ]
        for (text, reason) in rejected {
            XCTAssertNil(CID(text), "\(reason): \(text.debugDescription)")
        }
    }

    func testRejectsWellEncodedButUnsupportedCIDs() {
        let digest = SHA256.hash(utf8("x"))
        func encoded(_ bytes: [UInt8]) -> String { "b" + Base32.encode(bytes) }
        let rejected: [([UInt8], String)] = [
            ([0x00, 0x55, 0x12, 0x20] + digest, "version 0"),
            ([0x02, 0x55, 0x12, 0x20] + digest, "version 2"),
            ([0x01, 0x70, 0x12, 0x20] + digest, "codec dag-pb"),
            ([0x01, 0x71, 0x12, 0x20] + digest, "codec dag-cbor"),
            ([0x01, 0xA9, 0x02, 0x12, 0x20] + digest, "codec dag-json"),
            ([0x01, 0xD5, 0x00, 0x12, 0x20] + digest, "raw as a padded varint"),
            ([0x81, 0x00, 0x55, 0x12, 0x20] + digest, "version as a padded varint"),
            ([0x01, 0x55, 0x13, 0x40] + digest + digest, "sha2-512"),
            ([0x01, 0x55, 0x1E, 0x20] + digest, "blake3"),
            ([0x01, 0x55, 0x00, 0x20] + digest, "identity"),
            ([0x01, 0x55, 0x12, 0x1F] + digest.dropLast(), "31-byte digest"),
            ([0x01, 0x55, 0x12, 0x20] + digest.dropLast(), "truncated digest"),
            ([0x01, 0x55, 0x12, 0x20] + digest + [0x00], "trailing byte"),
            ([0x01, 0x55, 0x12, 0x21] + digest + [0x00], "33-byte digest"),
            ([0x01, 0x55, 0x12], "no digest"),
            ([], "nothing"),
        ]
        for (bytes, reason) in rejected {
            XCTAssertNil(CID(bytes: bytes), reason)
            XCTAssertNil(CID(encoded(bytes)), reason)
        }
        XCTAssertNotNil(CID(encoded([0x01, 0x55, 0x12, 0x20] + digest)), "the control case")
        XCTAssertNil(CID(codec: .raw, sha256: Array(digest.dropLast())))
        XCTAssertNil(CID(codec: .json, sha256: digest + [0]))
    }

    func testHashableAndComparable() throws {
        let a = CID.forContent(utf8("a")), b = CID.forContent(utf8("b"))
        XCTAssertEqual(Set([a, b, CID.forContent(utf8("a"))]).count, 2)
        XCTAssertNotEqual(CID(codec: .raw, sha256: a.digest), CID(codec: .json, sha256: a.digest))
        let sorted = [a, b, CID.forKeyDocument([])].sorted()
        XCTAssertEqual(sorted.map(\.string), sorted.map(\.string).sorted())
        XCTAssertEqual(a < b, a.string < b.string)
        XCTAssertFalse(a < a)
    }
}
