import CCrypto

/// SHA-256 (FIPS 180-4) through libcrypto's EVP interface.
public enum SHA256 {
    /// The length of a SHA-256 digest in bytes.
    public static let digestLength = 32

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// Incremental SHA-256, for hashing a file in chunks.
///
/// A value type: a copy continues independently from the state it was copied
/// at (the libcrypto context is copied on write).
public struct SHA256Hasher: @unchecked Sendable {  // the context is copied before any mutation unless uniquely referenced
    private var context: DigestContext

    /// A hasher that has seen no bytes yet.
    public init() {
        context = DigestContext()
    }

    /// Feeds `bytes` to the digest.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Feeds the bytes of `buffer` to the digest.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        update(base, count: buffer.count)
    }

    /// Feeds `count` bytes starting at `pointer` to the digest.
    public mutating func update(_ pointer: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        if !isKnownUniquelyReferenced(&context) { context = DigestContext(copying: context) }
        let status = EVP_DigestUpdate(context.pointer, pointer, count)
        precondition(status == 1, "EVP_DigestUpdate failed")
    }

    /// The digest of every byte fed so far. The hasher itself is left as it
    /// was, so more bytes may follow.
    public func finalize() -> [UInt8] {
        let finishing = DigestContext(copying: context)
        var digest = [UInt8](repeating: 0, count: SHA256.digestLength)
        var length: UInt32 = 0
        let status = digest.withUnsafeMutableBufferPointer {
            EVP_DigestFinal_ex(finishing.pointer, $0.baseAddress, &length)
        }
        precondition(status == 1 && length == SHA256.digestLength, "EVP_DigestFinal_ex failed")
        return digest
    }
}

/// An owned libcrypto SHA-256 digest context.
private final class DigestContext {
    let pointer: OpaquePointer

    init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        pointer = context
        precondition(EVP_DigestInit_ex(pointer, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex failed")
    }

    init(copying other: DigestContext) {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        pointer = context
        precondition(EVP_MD_CTX_copy_ex(pointer, other.pointer) == 1, "EVP_MD_CTX_copy_ex failed")
    }

    deinit {
        EVP_MD_CTX_free(pointer)
    }
}

/// HMAC-SHA256 (RFC 2104), used to scope entries by a credential without
/// storing the credential.
public enum HMACSHA256 {
    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    public static func authenticate(message: [UInt8], key: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: SHA256.digestLength)
        var length: UInt32 = 0
        // libcrypto reads a NULL key as "no key given", so an empty key or
        // message still gets a valid pointer.
        let keyBytes = key.isEmpty ? [0] : key
        let messageBytes = message.isEmpty ? [0] : message
        let result = keyBytes.withUnsafeBytes { keyBuffer in
            messageBytes.withUnsafeBytes { messageBuffer in
                mac.withUnsafeMutableBufferPointer { macBuffer in
                    HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(key.count),
                         messageBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                         macBuffer.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == SHA256.digestLength, "HMAC-SHA256 failed")
        return mac
    }
}
