public import CidCacheCore

/// The private key file `cidcache keygen` writes and `signing_key` will name:
/// one line, `ed25519-private:<standard base64 of the 32-byte seed>`, mode 0600.
public enum SigningKeyFile {
    /// The line's prefix.
    public static let prefix = "ed25519-private:"

    /// The file's contents for `key`, newline included.
    public static func contents(of key: Ed25519PrivateKey) -> [UInt8] {
        Array((prefix + Base64.encode(key.seed) + "\n").utf8)
    }

    /// The key in a file's contents (one trailing newline allowed). Errors say
    /// what is wrong without quoting the file, which holds a secret.
    public static func parse(_ contents: [UInt8]) throws(CacheError) -> Ed25519PrivateKey {
        var text = String(decoding: contents, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        guard text.hasPrefix(prefix) else {
            throw CacheError(.invalidRequest, "a signing key file holds one line starting with \"\(prefix)\"")
        }
        guard let seed = Base64.decode(String(text.dropFirst(prefix.count))), seed.count == Ed25519.keyLength else {
            throw CacheError(.invalidRequest, "a signing key file's key is not \(Ed25519.keyLength) bytes in standard base64")
        }
        return try Ed25519PrivateKey(seed: seed)
    }
}
