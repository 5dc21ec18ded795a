import XCTest
import CidCacheCore
@testable import CidCacheShared

/// Object keys, scopes, sealing keys, sealed bodies and records, and key files.
final class SharedScopeTests: XCTestCase {
    let credential = Array("test-credential-not-a-real-token".utf8)
    let upstream = "https://huggingface.co"
    let answer = Array(#"{"id":"private-org/secret-model","private":true}"#.utf8)

    func testLayout() {
        let request = CID.forKeyDocument(Array("{}".utf8)), content = CID.forContent([1, 2])
        let scope = SharedScope.forCredential(credential, upstream: upstream)
        let pub = SharedScope.public(upstream: "0123456789abcdef")!
        for prefix in ["cidcache", "/cidcache/", "cidcache//"] {
            let layout = SharedLayout(prefix: prefix)
            XCTAssertEqual(layout.blobKey(content, scope: pub), "cidcache/v1/blob/\(content.string)")
            XCTAssertEqual(layout.blobKey(content, scope: scope), "cidcache/v1/blob/\(scope.name)/\(content.string)")
            XCTAssertEqual(layout.recordKey(scope: pub, request: request), "cidcache/v1/idx/pub-0123456789abcdef/\(request.string)")
            XCTAssertEqual(layout.recordKey(scope: scope, request: request), "cidcache/v1/idx/\(scope.name)/\(request.string)")
        }
        XCTAssertEqual(SharedLayout(prefix: "team/a").blobKey(content, scope: pub), "team/a/v1/blob/\(content.string)")
        XCTAssertEqual(SharedLayout(prefix: "").blobKey(content, scope: pub), "v1/blob/\(content.string)")
        XCTAssertEqual(SharedLayout(prefix: "/").recordKey(scope: pub, request: request), "v1/idx/pub-0123456789abcdef/\(request.string)")
    }

    func testScopeFromCredential() {
        let scope = SharedScope.forCredential(credential, upstream: upstream)
        XCTAssertTrue(scope.name.hasPrefix("s-"))
        XCTAssertEqual(scope.name.count, 28)
        XCTAssertEqual(scope, SharedScope.forCredential(credential, upstream: upstream), "the same on every machine")
        XCTAssertNotEqual(scope, SharedScope.forCredential(Array("test-other-credential-not-real".utf8), upstream: upstream))
        XCTAssertNotEqual(scope, SharedScope.forCredential(credential, upstream: "https://hub.example"))
        XCTAssertFalse(scope.name.contains("secret") || scope.name.lowercased().contains("token"))
        let expected = "s-" + Base32.encode(HMACSHA256.authenticate(
            message: Array("cidcache/shared/scope/v1\u{0}https://huggingface.co".utf8), key: credential)).prefix(26)
        XCTAssertEqual(scope.name, expected)
        XCTAssertTrue(scope.isScoped)
        XCTAssertFalse(SharedScope.public(upstream: "0123456789abcdef")!.isScoped)
    }

    func testScopeNames() {
        let scope = SharedScope.forCredential(credential, upstream: upstream)
        XCTAssertEqual(SharedScope(name: scope.name), scope)
        XCTAssertEqual(SharedScope(name: "pub-0123456789abcdef"), SharedScope.public(upstream: "0123456789abcdef"))
        for bad in ["", "pub", "PUB", "pub-0123456789ABCDEF", "pub-0123456789abcde", "pub-0123456789abcdef0",
                    "pub-../0123456789ab", "s-", "s-abc", scope.name + "a", "s-" + String(repeating: "A", count: 26),
                    "s-" + String(repeating: "1", count: 26), "x-" + scope.name.dropFirst(2), "../pub"] {
            XCTAssertNil(SharedScope(name: bad), bad)
        }
    }

    func testSealingKeyIsNotTheScopeAndDependsOnBoth() {
        let key = SharedSealingKey.forCredential(credential, upstream: upstream)
        XCTAssertEqual(key.bytes.count, 32)
        XCTAssertEqual(key, SharedSealingKey.forCredential(credential, upstream: upstream))
        XCTAssertNotEqual(key, SharedSealingKey.forCredential(Array("test-other-credential-not-real".utf8), upstream: upstream))
        XCTAssertNotEqual(key, SharedSealingKey.forCredential(credential, upstream: "https://hub.example"))
        let scopeMAC = HMACSHA256.authenticate(message: Array("cidcache/shared/scope/v1\u{0}\(upstream)".utf8), key: credential)
        XCTAssertNotEqual(key.bytes, scopeMAC)
        XCTAssertFalse("\(key)".contains(Hex.encode(key.bytes)))
    }

    func testSealedBodyOpensOnlyWithTheKeyAndItsCID() throws {
        let key = SharedSealingKey.forCredential(credential, upstream: upstream)
        let content = CID.forContent(answer)
        let sealed = try SharedSealing.seal(answer, key: key)
        XCTAssertEqual(try SharedSealing.open(sealed, key: key, expectedContentCID: content), answer)
        XCTAssertThrowsError(try SharedSealing.open(sealed, key: SharedSealingKey.forCredential(Array("test-other-credential-not-real".utf8), upstream: upstream),
                                                    expectedContentCID: content)) { XCTAssertEqual($0 as? SharedRefusal, .undecryptable) }
        // Sealed for another body's CID: the associated data differs.
        XCTAssertThrowsError(try SharedSealing.open(sealed, key: key, expectedContentCID: CID.forContent([0]))) {
            XCTAssertEqual($0 as? SharedRefusal, .undecryptable)
        }
        var tampered = sealed
        tampered[20] ^= 1
        XCTAssertThrowsError(try SharedSealing.open(tampered, key: key, expectedContentCID: content)) {
            XCTAssertEqual($0 as? SharedRefusal, .undecryptable)
        }
        XCTAssertEqual(try SharedSealing.checkPlain(answer, expectedContentCID: content), answer)
        XCTAssertThrowsError(try SharedSealing.checkPlain(answer + [0x20], expectedContentCID: content)) {
            XCTAssertEqual($0 as? SharedRefusal, .contentMismatch)
        }
    }

    func testSealedBodyWhoseCIDDiffersIsRefused() throws {
        // A writer holding the credential seals other bytes under this CID's associated data.
        let key = SharedSealingKey.forCredential(credential, upstream: upstream)
        let content = CID.forContent(answer)
        let forged = try AES256GCM.seal(Array("poison".utf8), key: key,
                                        associatedData: Array("cidcache/shared/blob/v1\u{0}\(content.string)".utf8))
        XCTAssertThrowsError(try SharedSealing.open(forged, key: key, expectedContentCID: content)) {
            XCTAssertEqual($0 as? SharedRefusal, .contentMismatch)
        }
    }

    func testScopedObjectsHoldNoPlaintext() throws {
        let key = SharedSealingKey.forCredential(credential, upstream: upstream)
        let scope = SharedScope.forCredential(credential, upstream: upstream)
        let signer = Ed25519PrivateKey.generate()
        let request = CID.forKeyDocument(Array(#"{"repo":"private-org/secret-model"}"#.utf8))
        let record = SharedRecord(upstream: upstream, scope: scope, requestCID: request, contentCID: CID.forContent(answer),
                                  size: answer.count, created: 100, expires: 200)
        let sealedRecord = try SharedSealing.sealRecord(record.signed(with: signer), key: key, scope: scope, requestCID: request)
        let sealedBody = try SharedSealing.seal(answer, key: key)
        for object in [sealedRecord, sealedBody] {
            let text = String(decoding: object, as: UTF8.self)
            for secret in ["secret", "private", "huggingface", CID.forContent(answer).string, request.string, "hf_"] {
                XCTAssertFalse(text.contains(secret), secret)
            }
            XCTAssertNil(object.firstRange(of: answer.prefix(8)))
            XCTAssertNil(object.firstRange(of: credential.prefix(6)))
        }
        let opened = try SharedSealing.openRecord(sealedRecord, key: key, scope: scope, requestCID: request)
        XCTAssertEqual(try SharedRecord.verify(opened, trustedKeys: [signer.publicKey], notBefore: 0, scope: scope,
                                               requestCID: request, now: 150), record)
        // Moved to another request's key, the sealed record no longer opens.
        XCTAssertThrowsError(try SharedSealing.openRecord(sealedRecord, key: key, scope: scope,
                                                          requestCID: CID.forKeyDocument(Array("{}".utf8))))
    }

    func testSigningKeyFile() throws {
        let key = Ed25519PrivateKey.generate()
        let contents = SigningKeyFile.contents(of: key)
        let text = String(decoding: contents, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("ed25519-private:") && text.hasSuffix("\n"))
        XCTAssertEqual(text.filter { $0 == "\n" }.count, 1)
        XCTAssertEqual(try SigningKeyFile.parse(contents).publicKey, key.publicKey)
        XCTAssertEqual(try SigningKeyFile.parse(Array(contents.dropLast())).publicKey, key.publicKey)
        let secret = Base64.encode(key.seed)
        for bad in [key.publicKey.text, "ed25519-private:" + secret + "\n\n", "ed25519-private:" + secret.dropLast(2),
                    "ed25519-private:" + Base64.encode(key.seed + [0])] {
            XCTAssertThrowsError(try SigningKeyFile.parse(Array(bad.utf8)), bad) { error in
                XCTAssertFalse("\(error)".contains(secret.prefix(10)), "the error quotes the key")
            }
        }
    }
}
