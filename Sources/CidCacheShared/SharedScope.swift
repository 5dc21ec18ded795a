public import CidCacheCore

/// The part of the bucket an entry is shared in: `pub-<upstream>` for entries
/// that depend on no credential (one per upstream identity, readable by every
/// machine of the bucket), else `s-<26 base32 characters>` derived from the
/// credential (HMAC-SHA256 keyed by it, over the upstream identity), so only
/// machines holding the same credential find the entry, and the bucket never
/// sees the credential.
public struct SharedScope: Sendable, Hashable, CustomStringConvertible {
    /// Hex digits of a public scope's upstream identity.
    static let upstreamLength = 16
    /// Base32 characters kept of the HMAC: 130 bits.
    static let hashLength = 26
    /// The HMAC's domain string, so the scope cannot collide with other uses of the credential.
    static let scopeDomain = "cidcache/shared/scope/v1"
    /// The sealing key derivation's domain string.
    static let sealDomain = "cidcache/shared/seal/v1"

    /// The scope as it appears in object keys and records.
    public let name: String

    private init(checkedName: String) {
        name = checkedName
    }

    /// The scope of `upstream`'s entries that depend on no credential;
    /// `upstream` is a 16-digit lower-case hex identity (as namespaces digest theirs).
    public static func `public`(upstream: String) -> SharedScope? {
        SharedScope(name: "pub-" + upstream)
    }

    /// Parses a scope name: `pub-` and 16 lower-case hex digits, or `s-` and 26
    /// lower-case base32 characters; else nil.
    public init?(name: String) {
        if name.hasPrefix("pub-") {
            let hex = name.utf8.dropFirst(4)
            guard hex.count == Self.upstreamLength, hex.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                                                                     || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) else {
                return nil
            }
            self.init(checkedName: name)
            return
        }
        let hash = name.utf8.dropFirst(2)
        guard name.hasPrefix("s-"), hash.count == Self.hashLength,
              hash.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                                 || (UInt8(ascii: "2")...UInt8(ascii: "7")).contains($0) }) else { return nil }
        self.init(checkedName: name)
    }

    /// The scope of entries of `upstream` (its identity, e.g. a base URL) fetched with `credential`.
    public static func forCredential(_ credential: [UInt8], upstream: String) -> SharedScope {
        precondition(!credential.isEmpty, "an entry without a credential is in a public scope")
        let mac = HMACSHA256.authenticate(message: domainMessage(scopeDomain, upstream), key: credential)
        return SharedScope(checkedName: "s-" + Base32.encode(mac).prefix(hashLength))
    }

    /// Whether entries in this scope are sealed in the bucket.
    public var isScoped: Bool { name.hasPrefix("s-") }

    public var description: String { name }

    /// `domain`, a zero byte and `upstream`: the zero keeps each pair apart.
    static func domainMessage(_ domain: String, _ upstream: String) -> [UInt8] {
        Array(domain.utf8) + [0] + Array(upstream.utf8)
    }
}

/// The AES-256-GCM key that seals a scoped entry's record and body in the bucket.
public enum SharedSealingKey {
    /// The key for entries of `upstream` fetched with `credential`: HKDF-SHA256 of
    /// the credential under a domain string of its own, unrelated to the scope's HMAC.
    public static func forCredential(_ credential: [UInt8], upstream: String) -> SymmetricKey {
        precondition(!credential.isEmpty, "an entry without a credential is not sealed")
        return HKDFSHA256.deriveKey(inputKeyMaterial: credential,
                                    info: SharedScope.domainMessage(SharedScope.sealDomain, upstream),
                                    outputLength: AES256GCM.keyLength)
    }
}
