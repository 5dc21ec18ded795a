import CCrypto

/// Ed25519 (RFC 8032) through libcrypto's EVP interface, with raw 32-byte keys.
public enum Ed25519 {
    /// The length of a private key seed and of a public key, in bytes.
    public static let keyLength = 32
    /// The length of a signature, in bytes.
    public static let signatureLength = 64
}

/// An Ed25519 private key: its 32-byte seed. Never printed (the description is redacted).
public struct Ed25519PrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The RFC 8032 seed.
    public let seed: [UInt8]
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// The key whose seed is `seed`; refused unless it is 32 bytes long.
    public init(seed: [UInt8]) throws(CacheError) {
        guard seed.count == Ed25519.keyLength else {
            throw CacheError(.invalidRequest, "an Ed25519 private key is \(Ed25519.keyLength) bytes, not \(seed.count)")
        }
        let key = try EVPKey(privateSeed: seed)
        var raw = [UInt8](repeating: 0, count: Ed25519.keyLength)
        var length = raw.count
        let status = raw.withUnsafeMutableBufferPointer { EVP_PKEY_get_raw_public_key(key.pointer, $0.baseAddress, &length) }
        guard status == 1, length == Ed25519.keyLength else { throw CacheError(.io, "libcrypto could not derive an Ed25519 public key") }
        self.seed = seed
        self.publicKey = try Ed25519PublicKey(raw: raw)
    }

    /// A new key from libcrypto's CSPRNG.
    public static func generate() -> Ed25519PrivateKey {
        do {
            return try Ed25519PrivateKey(seed: SecureRandom.bytes(Ed25519.keyLength))
        } catch {
            preconditionFailure("a random 32-byte seed is always a valid Ed25519 key: \(error)")
        }
    }

    /// The 64-byte signature of `message`.
    public func signature(for message: [UInt8]) -> [UInt8] {
        do {
            let key = try EVPKey(privateSeed: seed)
            return try key.sign(message)
        } catch {
            preconditionFailure("Ed25519 signing with a valid key failed: \(error)")
        }
    }

    public var description: String { "Ed25519PrivateKey(redacted, public \(publicKey))" }
    public var debugDescription: String { description }
}

/// An Ed25519 public key; its text form is `ed25519:<standard base64 of the 32 bytes>`.
public struct Ed25519PublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The text form's prefix.
    public static let textPrefix = "ed25519:"
    /// The raw 32 bytes.
    public let raw: [UInt8]

    /// The key whose raw bytes are `raw`; refused unless it is 32 bytes long.
    public init(raw: [UInt8]) throws(CacheError) {
        guard raw.count == Ed25519.keyLength else {
            throw CacheError(.invalidRequest, "an Ed25519 public key is \(Ed25519.keyLength) bytes, not \(raw.count)")
        }
        self.raw = raw
    }

    /// Parses the text form `ed25519:<base64>`, saying what is wrong when it is not one.
    public init(text: String) throws(CacheError) {
        guard text.hasPrefix(Self.textPrefix) else {
            throw CacheError(.invalidRequest, "a public key starts with \"\(Self.textPrefix)\"")
        }
        guard let raw = Base64.decode(String(text.dropFirst(Self.textPrefix.count))) else {
            throw CacheError(.invalidRequest, "a public key's text after \"\(Self.textPrefix)\" is not standard padded base64")
        }
        try self.init(raw: raw)
    }

    /// The text form, as `trusted_keys` takes it.
    public var text: String { Self.textPrefix + Base64.encode(raw) }

    public var description: String { text }

    /// Whether `signature` is this key's valid signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == Ed25519.signatureLength, let key = try? EVPKey(publicRaw: raw) else { return false }
        return key.verify(signature, for: message)
    }
}

/// An owned libcrypto Ed25519 key.
private final class EVPKey {
    let pointer: OpaquePointer

    init(privateSeed seed: [UInt8]) throws(CacheError) {
        let key = seed.withUnsafeBufferPointer { EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
        guard let key else { throw CacheError(.invalidRequest, "libcrypto refused the Ed25519 private key") }
        pointer = key
    }

    init(publicRaw raw: [UInt8]) throws(CacheError) {
        let key = raw.withUnsafeBufferPointer { EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, $0.count) }
        guard let key else { throw CacheError(.invalidRequest, "libcrypto refused the Ed25519 public key") }
        pointer = key
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    func sign(_ message: [UInt8]) throws(CacheError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CacheError(.io, "EVP_MD_CTX_new: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        // Ed25519 hashes internally: no digest is named.
        guard EVP_DigestSignInit(context, nil, nil, nil, pointer) == 1 else { throw CacheError(.io, "EVP_DigestSignInit failed") }
        var signature = [UInt8](repeating: 0, count: Ed25519.signatureLength)
        var length = signature.count
        let status = signature.withUnsafeMutableBufferPointer { output in
            withNonNullBytes(message) { EVP_DigestSign(context, output.baseAddress, &length, $0, message.count) }
        }
        guard status == 1, length == Ed25519.signatureLength else { throw CacheError(.io, "EVP_DigestSign failed") }
        return signature
    }

    func verify(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, pointer) == 1 else { return false }
        let status = signature.withUnsafeBufferPointer { signatureBuffer in
            withNonNullBytes(message) {
                EVP_DigestVerify(context, signatureBuffer.baseAddress, signature.count, $0, message.count)
            }
        }
        return status == 1
    }
}

/// Calls `body` with a pointer to `bytes` that is never NULL, even for no
/// bytes: libcrypto may read a NULL buffer as "none given".
func withNonNullBytes<Result>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>) -> Result) -> Result {
    let storage = bytes.isEmpty ? [0] : bytes
    return storage.withUnsafeBufferPointer { body($0.baseAddress!) }
}
