import XCTest
import CidCacheCore
@testable import CidCacheShared

/// Signed records: what verifies, and every reason one is refused.
final class SharedRecordTests: XCTestCase {
    static let pub = SharedScope.public(upstream: "0123456789abcdef")!
    let signer = Ed25519PrivateKey.generate()
    let request = CID.forKeyDocument(Array(#"{"model":"m"}"#.utf8))
    let answer = Array(#"{"answer":"forty-two"}"#.utf8)
    let now = 1_800_000_000

    var record: SharedRecord {
        SharedRecord(upstream: "https://api.example", scope: Self.pub, requestCID: request,
                     contentCID: CID.forContent(answer), size: answer.count, created: now - 10, expires: now + 3600,
                     tokens: 12, costUSD: 0.25)
    }

    func verify(_ bytes: [UInt8], trustedKeys: [Ed25519PublicKey]? = nil, notBefore: Int = 0,
                scope: SharedScope = SharedRecordTests.pub, requestCID: CID? = nil) throws(SharedRefusal) -> SharedRecord {
        try SharedRecord.verify(bytes, trustedKeys: trustedKeys ?? [signer.publicKey], notBefore: notBefore,
                                scope: scope, requestCID: requestCID ?? request, now: now)
    }

    func assertRefused(_ bytes: [UInt8], _ expected: SharedRefusal, trustedKeys: [Ed25519PublicKey]? = nil,
                       notBefore: Int = 0, scope: SharedScope = SharedRecordTests.pub, requestCID: CID? = nil, line: UInt = #line) {
        do {
            let accepted = try verify(bytes, trustedKeys: trustedKeys, notBefore: notBefore, scope: scope, requestCID: requestCID)
            XCTFail("accepted \(accepted), expected \(expected)", line: line)
        } catch {
            XCTAssertEqual(error, expected, line: line)
        }
    }

    /// The signed record's members, to edit.
    func members(_ bytes: [UInt8]) throws -> JSONObject {
        try XCTUnwrap(CanonicalJSON.parse(bytes).objectValue)
    }

    func testSignedRecordIsCanonicalAndVerifies() throws {
        let bytes = record.signed(with: signer)
        XCTAssertEqual(try CanonicalJSON.canonicalize(bytes), bytes)
        let object = try members(bytes)
        XCTAssertEqual(object.keys.sorted(), ["content_cid", "cost_usd", "created", "expires", "key_id", "request_cid",
                                              "scope", "sig", "size", "tokens", "upstream", "v"])
        XCTAssertEqual(object["key_id"]?.stringValue, signer.publicKey.text)
        XCTAssertEqual(try verify(bytes), record)
        // Another trusted key beside the signer's: rotation.
        XCTAssertEqual(try verify(bytes, trustedKeys: [Ed25519PrivateKey.generate().publicKey, signer.publicKey]), record)
        var minimal = record
        minimal.tokens = nil
        minimal.costUSD = nil
        XCTAssertEqual(try verify(minimal.signed(with: signer)), minimal)
    }

    func testUnknownMembersAreSignedToo() throws {
        var object = try members(record.signed(with: signer))
        object["sig"] = nil
        object["future"] = "field"
        let signature = signer.signature(for: SharedRecord.signingDomain + CanonicalJSON.serialize(.object(object)))
        object["sig"] = .string(Base64.encode(signature))
        XCTAssertEqual(try verify(CanonicalJSON.serialize(.object(object))), record)
        object["future"] = "edited"
        assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
    }

    func testUnsignedAndUnknownKey() throws {
        var object = try members(record.signed(with: signer))
        object["sig"] = nil
        assertRefused(CanonicalJSON.serialize(.object(object)), .unsigned)
        object = try members(record.signed(with: signer))
        object["key_id"] = nil
        assertRefused(CanonicalJSON.serialize(.object(object)), .unsigned)
        let stranger = Ed25519PrivateKey.generate()
        assertRefused(record.signed(with: stranger), .unknownKey(stranger.publicKey.text))
        assertRefused(record.signed(with: signer), .unknownKey(signer.publicKey.text), trustedKeys: [])
    }

    func testEditedOrForgedRecordsFailTheSignature() throws {
        let edits: [(String, JSON)] = [("content_cid", .string(CID.forContent([1]).string)), ("expires", .number(Double(now + 999_999))),
                                       ("size", .number(1)), ("upstream", "https://evil.example"), ("created", .number(Double(now)))]
        for (key, value) in edits {
            var object = try members(record.signed(with: signer))
            object[key] = value
            assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
        }
        // A key id naming a trusted key, signed by another.
        var object = try members(record.signed(with: Ed25519PrivateKey.generate()))
        object["key_id"] = .string(signer.publicKey.text)
        assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
        // A signature that is not base64, and a flipped bit.
        object = try members(record.signed(with: signer))
        object["sig"] = "not base64!"
        assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
        var signature = Base64.decode(try XCTUnwrap(members(record.signed(with: signer))["sig"]?.stringValue))!
        signature[5] ^= 0x04
        object["sig"] = .string(Base64.encode(signature))
        assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
    }

    func testMalformed() throws {
        assertRefused(Array("not json".utf8), .malformed("not JSON"))
        assertRefused(Array("[1]".utf8), .malformed("not a JSON object"))
        assertRefused([], .malformed("not JSON"))
        // Well signed, but not a record this version reads.
        let bad: [(String, JSON?, String)] = [("v", 2, "not version 1"), ("scope", "team", "no valid scope"),
                                              ("request_cid", .string(CID.forContent([1]).string), "no valid request_cid"),
                                              ("content_cid", "bafy", "no valid content_cid"), ("size", -1, "no valid size"),
                                              ("expires", nil, "no valid created or expires"), ("tokens", "12", "tokens of the wrong type"),
                                              ("content_type", 1, "content_type of the wrong type")]
        for (key, value, reason) in bad {
            var object = try members(record.signed(with: signer))
            object["sig"] = nil
            object[key] = value
            let signature = signer.signature(for: SharedRecord.signingDomain + CanonicalJSON.serialize(.object(object)))
            object["sig"] = .string(Base64.encode(signature))
            assertRefused(CanonicalJSON.serialize(.object(object)), .malformed(reason))
        }
    }

    func testOtherScopeAndRequest() {
        let scoped = SharedScope.forCredential(Array("token-a".utf8), upstream: "https://api.example")
        assertRefused(record.signed(with: signer), .otherScope, scope: scoped)
        assertRefused(record.signed(with: signer), .otherRequest, requestCID: CID.forKeyDocument(Array("{}".utf8)))
    }

    func testNotBeforeAndExpiry() throws {
        assertRefused(record.signed(with: signer), .createdBeforeNotBefore, notBefore: now - 9)
        XCTAssertEqual(try verify(record.signed(with: signer), notBefore: now - 10), record)
        var old = record
        old.expires = now
        assertRefused(old.signed(with: signer), .expired)
        old.expires = now + 1
        XCTAssertEqual(try verify(old.signed(with: signer)), old)
    }

    func testTheContentTypeIsAnOptionalSignedMember() throws {
        XCTAssertNil(try members(record.signed(with: signer))["content_type"], "none known, none written")
        XCTAssertNil(try verify(record.signed(with: signer)).contentType)
        var typed = record
        typed.contentType = "application/json; charset=utf-8"
        let signed = typed.signed(with: signer)
        XCTAssertEqual(try members(signed)["content_type"], .string("application/json; charset=utf-8"))
        XCTAssertEqual(try verify(signed), typed)
        // Signed like every member: changed, the signature no longer holds.
        var object = try members(signed)
        object["content_type"] = .string("text/event-stream")
        assertRefused(CanonicalJSON.serialize(.object(object)), .badSignature)
    }

    func testRefusalReasonsAreDistinct() {
        let all: [SharedRefusal] = [.malformed(""), .unsigned, .unknownKey(""), .badSignature, .otherScope, .otherRequest,
                                    .createdBeforeNotBefore, .expired, .undecryptable, .contentMismatch]
        XCTAssertEqual(Set(all.map(\.reason)).count, all.count)
    }
}
