import XCTest
@testable import CidCacheCore

/// Ed25519, AES-256-GCM, HKDF and base64 against vectors (published ones, or
/// another implementation's over obviously fake keys), and tampering.
final class CryptoTests: XCTestCase {
    /// Seed, public key, message, signature, with obviously fake seeds (all
    /// zeros, 00..1f, all 0x11) and RFC 8032 §7.1's messages; the expected
    /// values come from another implementation (Python's `cryptography` 48).
    let ed25519Vectors = [
        ("0000000000000000000000000000000000000000000000000000000000000000",
         "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29", "",
         "8f895b3cafe2c9506039d0e2a66382568004674fe8d237785092e40d6aaf483e4fc60168705f31f101596138ce21aa357c0d32a064f423dc3ee4aa3abf53f803"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8", "72",
         "3a95ee31e424771cc85ba9b15df042cf5156c6833dfc38c057974c89a61437fd14b882a549a71a52202a451418bf8bbf03c04eaad48ed8e2f22f46923a836001"),
        ("1111111111111111111111111111111111111111111111111111111111111111",
         "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737", "af82",
         "8fcd17dfd186c21f7277f6098a4a804e91c67b9f4e3e92072f1c338e297b66fade205896fc8aae35654436b694538933c267cb4b6c9fe1c08572287c30c7ab0e"),
    ]

    func testEd25519Vectors() throws {
        for (seed, publicKey, message, signature) in ed25519Vectors {
            let key = try Ed25519PrivateKey(seed: Hex.decode(seed)!)
            XCTAssertEqual(Hex.encode(key.publicKey.raw), publicKey)
            XCTAssertEqual(Hex.encode(key.signature(for: Hex.decode(message)!)), signature)
            XCTAssertTrue(key.publicKey.isValidSignature(Hex.decode(signature)!, for: Hex.decode(message)!))
        }
    }

    func testEd25519RefusesTampering() throws {
        let (seed, _, message, signatureHex) = ed25519Vectors[2]
        let publicKey = try Ed25519PrivateKey(seed: Hex.decode(seed)!).publicKey
        let signature = Hex.decode(signatureHex)!
        for index in [0, 31, 32, 63] {
            var flipped = signature
            flipped[index] ^= 0x01
            XCTAssertFalse(publicKey.isValidSignature(flipped, for: Hex.decode(message)!), "bit flipped at \(index)")
        }
        XCTAssertFalse(publicKey.isValidSignature(signature, for: Hex.decode("af83")!))
        XCTAssertFalse(publicKey.isValidSignature(Array(signature.dropLast()), for: Hex.decode(message)!))
        let other = Ed25519PrivateKey.generate()
        XCTAssertFalse(other.publicKey.isValidSignature(signature, for: Hex.decode(message)!))
        XCTAssertTrue(other.publicKey.isValidSignature(other.signature(for: [1, 2, 3]), for: [1, 2, 3]))
    }

    func testEd25519KeysAreRandomAndNeverPrinted() throws {
        let first = Ed25519PrivateKey.generate(), second = Ed25519PrivateKey.generate()
        XCTAssertNotEqual(first.seed, second.seed)
        for text in ["\(first)", String(reflecting: first)] {
            XCTAssertFalse(text.contains(Base64.encode(first.seed)) || text.contains(Hex.encode(first.seed)), text)
        }
        XCTAssertThrowsError(try Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 31)))
    }

    func testPublicKeyText() throws {
        let key = try Ed25519PublicKey(raw: Hex.decode(ed25519Vectors[0].1)!)
        XCTAssertEqual(key.text, "ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=")
        XCTAssertEqual(try Ed25519PublicKey(text: key.text), key)
        let refusals = [
            ("ED25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=", "starts with"),
            ("O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=", "starts with"),
            ("ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2i_=", "base64"),
            ("ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik", "base64"),
            ("ed25519:AAAA", "32 bytes, not 3"),
            ("ed25519:" + Base64.encode([UInt8](repeating: 7, count: 33)), "32 bytes, not 33"),
        ]
        for (text, reason) in refusals {
            XCTAssertThrowsError(try Ed25519PublicKey(text: text), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
        }
    }

    /// McGrew-Viega test case 14 (zero key, one zero block), and case 16's
    /// nonce, plaintext and associated data under the key 00..1f (expected
    /// values from Python's `cryptography` 48).
    func testAESGCMVectors() throws {
        let sealed = try AES256GCM.seal([UInt8](repeating: 0, count: 16), key: SymmetricKey([UInt8](repeating: 0, count: 32)),
                                        nonce: [UInt8](repeating: 0, count: 12), associatedData: [])
        XCTAssertEqual(Hex.encode(sealed), "000000000000000000000000"
                       + "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
        let key = SymmetricKey(Array(0..<32))
        let plaintext = Hex.decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                                   + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")!
        let data = Hex.decode("feedfacedeadbeeffeedfacedeadbeefabaddad2")!
        let nonce = Hex.decode("cafebabefacedbaddecaf888")!
        let sealed16 = try AES256GCM.seal(plaintext, key: key, nonce: nonce, associatedData: data)
        XCTAssertEqual(Hex.encode(sealed16), "cafebabefacedbaddecaf888"
                       + "5392920352fe49fee3525418d4e8afa58b876902ca2d9dae6093344c34b8ef8d"
                       + "b16ccdd354bc40310994264c7b259540e83e44a409876e8799f10a05" + "77f8b3108a678a13b9f5f2c71e7de056")
        XCTAssertEqual(try AES256GCM.open(sealed16, key: key, associatedData: data), plaintext)
    }

    func testAESGCMRoundTripAndTampering() throws {
        let key = SymmetricKey.random(count: 32)
        let message = Array("the answer".utf8)
        let sealed = try AES256GCM.seal(message, key: key, associatedData: [9])
        XCTAssertEqual(sealed.count, 12 + message.count + 16)
        XCTAssertEqual(try AES256GCM.open(sealed, key: key, associatedData: [9]), message)
        XCTAssertNotEqual(try AES256GCM.seal(message, key: key, associatedData: [9]), sealed, "a fresh nonce each time")
        XCTAssertEqual(try AES256GCM.open(AES256GCM.seal([], key: key), key: key), [])
        // Nonce, ciphertext and tag bytes each flipped.
        for index in [0, 12, 12 + message.count - 1, sealed.count - 16, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x80
            XCTAssertThrowsError(try AES256GCM.open(tampered, key: key, associatedData: [9]), "flipped at \(index)")
        }
        XCTAssertThrowsError(try AES256GCM.open(sealed, key: key, associatedData: [8]))
        XCTAssertThrowsError(try AES256GCM.open(sealed, key: SymmetricKey.random(count: 32), associatedData: [9]))
        XCTAssertThrowsError(try AES256GCM.open(Array(sealed.prefix(27)), key: key))
        XCTAssertThrowsError(try AES256GCM.seal(message, key: SymmetricKey([1, 2])))
        XCTAssertFalse("\(key)".contains(Hex.encode(key.bytes)))
    }

    /// RFC 5869 A.1 (test case 1).
    func testHKDFRFC5869Case1() {
        let inputKeyMaterial = [UInt8](repeating: 0x0b, count: 22)
        let salt = Hex.decode("000102030405060708090a0b0c")!
        XCTAssertEqual(Hex.encode(HKDFSHA256.extract(inputKeyMaterial: inputKeyMaterial, salt: salt)),
                       "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        let key = HKDFSHA256.deriveKey(inputKeyMaterial: inputKeyMaterial, salt: salt,
                                       info: Hex.decode("f0f1f2f3f4f5f6f7f8f9")!, outputLength: 42)
        XCTAssertEqual(Hex.encode(key.bytes),
                       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    /// RFC 4648 §10 vectors, and strict decoding.
    func testBase64() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64.decode(encoded), Array(plain.utf8))
        }
        XCTAssertEqual(Base64.encode([0xfb, 0xff]), "+/8=")
        for bad in ["Zg", "Zg=", "Zh==", "Z===", "Zg==Zg==", "Zm9v\n", "Zm-v", "===="] {
            XCTAssertNil(Base64.decode(bad), bad)
        }
    }
}
