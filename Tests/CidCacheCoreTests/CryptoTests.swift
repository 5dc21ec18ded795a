import XCTest
@testable import CidCacheCore

/// Ed25519, AES-256-GCM, HKDF and base64 against published vectors, and tampering.
final class CryptoTests: XCTestCase {
    /// RFC 8032 §7.1 TEST 1-3: seed, public key, message, signature.
    let ed25519Vectors = [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
         "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
         "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]

    func testEd25519RFC8032Vectors() throws {
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
        XCTAssertEqual(key.text, "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        XCTAssertEqual(try Ed25519PublicKey(text: key.text), key)
        let refusals = [
            ("ED25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "starts with"),
            ("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "starts with"),
            ("ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "base64"),
            ("ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", "base64"),
            ("ed25519:AAAA", "32 bytes, not 3"),
            ("ed25519:" + Base64.encode([UInt8](repeating: 7, count: 33)), "32 bytes, not 33"),
        ]
        for (text, reason) in refusals {
            XCTAssertThrowsError(try Ed25519PublicKey(text: text), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
        }
    }

    /// McGrew-Viega test cases 14 (zero key, one zero block) and 16 (with associated data).
    func testAESGCMVectors() throws {
        let sealed = try AES256GCM.seal([UInt8](repeating: 0, count: 16), key: SymmetricKey([UInt8](repeating: 0, count: 32)),
                                        nonce: [UInt8](repeating: 0, count: 12), associatedData: [])
        XCTAssertEqual(Hex.encode(sealed), "000000000000000000000000"
                       + "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")
        let key = SymmetricKey(Hex.decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")!)
        let plaintext = Hex.decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                                   + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")!
        let data = Hex.decode("feedfacedeadbeeffeedfacedeadbeefabaddad2")!
        let nonce = Hex.decode("cafebabefacedbaddecaf888")!
        let sealed16 = try AES256GCM.seal(plaintext, key: key, nonce: nonce, associatedData: data)
        XCTAssertEqual(Hex.encode(sealed16), "cafebabefacedbaddecaf888"
                       + "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                       + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b")
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
