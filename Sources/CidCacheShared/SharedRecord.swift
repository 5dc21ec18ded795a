public import CidCacheCore

/// The record of one shared entry: which answer (by content CID) a request
/// (by request CID) has, until when, signed by a team key.
///
/// In the bucket it is RFC 8785 canonical JSON with the members `v`, `upstream`,
/// `scope`, `request_cid`, `content_cid`, `size`, `created`, `expires` (Unix
/// seconds), optionally `tokens`, `cost_usd`, `content_type` and `sample` (past the first), then `key_id` (the signer's
/// public key text) and `sig`: the standard base64 Ed25519 signature of
/// `signingDomain` followed by the canonical record without `sig`.
/// Members this version does not know are signed too, and kept out of the value.
public struct SharedRecord: Sendable, Equatable {
    /// The format version this code writes and reads.
    public static let version = 1
    /// What the signature covers before the record, so it can never be taken for another signed message.
    static let signingDomain = Array("cidcache/shared/record/v1\n".utf8)

    /// The upstream's identity (e.g. its base URL).
    public var upstream: String
    /// The scope the record is stored under.
    public var scope: SharedScope
    /// The request CID, as the record's object key names it.
    public var requestCID: CID
    /// The answer's content CID: the CID of the plaintext, even when the body is sealed.
    public var contentCID: CID
    /// The answer's length in bytes (plaintext).
    public var size: Int
    /// When the answer was fetched, Unix seconds.
    public var created: Int
    /// When the entry stops being served, Unix seconds; authoritative over the bucket's lifecycle.
    public var expires: Int
    /// Tokens the upstream counted, when it did.
    public var tokens: Int?
    /// What the answer cost, in US dollars, when known.
    public var costUSD: Double?
    /// The `Content-Type` the upstream gave the answer, when known.
    public var contentType: String?
    /// Which sample of a sampled request it is (docs/REFERENCE.md §8.1); 0 for every other request.
    public var sample: Int

    public init(upstream: String, scope: SharedScope, requestCID: CID, contentCID: CID, size: Int,
                created: Int, expires: Int, tokens: Int? = nil, costUSD: Double? = nil, contentType: String? = nil,
                sample: Int = 0) {
        self.upstream = upstream
        self.scope = scope
        self.requestCID = requestCID
        self.contentCID = contentCID
        self.size = size
        self.created = created
        self.expires = expires
        self.tokens = tokens
        self.costUSD = costUSD
        self.contentType = contentType
        self.sample = sample
    }

    /// The record as the bucket holds it: canonical JSON signed with `key`.
    public func signed(with key: Ed25519PrivateKey) -> [UInt8] {
        var object = fields
        object["key_id"] = .string(key.publicKey.text)
        let signature = key.signature(for: Self.signingDomain + CanonicalJSON.serialize(.object(object)))
        object["sig"] = .string(Base64.encode(signature))
        return CanonicalJSON.serialize(.object(object))
    }

    /// The record in `bytes`, once it is shown to be signed by one of
    /// `trustedKeys`, to be for `requestCID` in `scope`, created no earlier than
    /// `notBefore` and not expired at `now` (Unix seconds); else why not.
    public static func verify(_ bytes: [UInt8], trustedKeys: [Ed25519PublicKey], notBefore: Int,
                              scope: SharedScope, requestCID: CID, sample: Int = 0, now: Int) throws(SharedRefusal) -> SharedRecord {
        let parsed: JSON
        do {
            parsed = try CanonicalJSON.parse(bytes, maxDepth: 8)
        } catch {
            throw .malformed("not JSON")
        }
        guard let object = parsed.objectValue else { throw .malformed("not a JSON object") }
        try checkSignature(object, trustedKeys: trustedKeys)
        let record = try SharedRecord(verified: object)
        guard record.scope == scope else { throw .otherScope }
        guard record.requestCID == requestCID else { throw .otherRequest }
        guard record.sample == sample else { throw .otherSample }
        guard record.created >= notBefore else { throw .createdBeforeNotBefore }
        guard now < record.expires else { throw .expired }
        return record
    }

    private static func checkSignature(_ object: JSONObject, trustedKeys: [Ed25519PublicKey]) throws(SharedRefusal) {
        guard let signatureText = object["sig"]?.stringValue, let keyID = object["key_id"]?.stringValue else {
            throw .unsigned
        }
        guard let key = trustedKeys.first(where: { $0.text == keyID }) else { throw .unknownKey(String(keyID.prefix(80))) }
        guard let signature = Base64.decode(signatureText) else { throw .badSignature }
        let signed = signingDomain + CanonicalJSON.serialize(.object(object.removing(keys: ["sig"])))
        guard key.isValidSignature(signature, for: signed) else { throw .badSignature }
    }

    /// The record's fields from a signed object.
    private init(verified object: JSONObject) throws(SharedRefusal) {
        guard object["v"]?.intValue == Self.version else { throw .malformed("not version \(Self.version)") }
        guard let upstream = object["upstream"]?.stringValue else { throw .malformed("no upstream") }
        guard let scope = object["scope"]?.stringValue.flatMap({ SharedScope(name: $0) }) else { throw .malformed("no valid scope") }
        guard let request = object["request_cid"]?.stringValue.flatMap({ CID($0) }), request.codec == .json else {
            throw .malformed("no valid request_cid")
        }
        guard let content = object["content_cid"]?.stringValue.flatMap({ CID($0) }), content.codec == .raw else {
            throw .malformed("no valid content_cid")
        }
        guard let size = object["size"]?.intValue, size >= 0 else { throw .malformed("no valid size") }
        guard let created = object["created"]?.intValue, let expires = object["expires"]?.intValue else {
            throw .malformed("no valid created or expires")
        }
        let tokens = try Self.optional(object, "tokens") { $0.intValue }
        let cost = try Self.optional(object, "cost_usd") { $0.doubleValue }
        let contentType = try Self.optional(object, "content_type") { $0.stringValue }
        let sample = try Self.optional(object, "sample") { $0.intValue.flatMap { $0 > 0 ? $0 : nil } }
        self.init(upstream: upstream, scope: scope, requestCID: request, contentCID: content, size: size,
                  created: created, expires: expires, tokens: tokens, costUSD: cost, contentType: contentType,
                  sample: sample ?? 0)
    }

    private static func optional<Value>(_ object: JSONObject, _ key: String,
                                        _ read: (JSON) -> Value?) throws(SharedRefusal) -> Value? {
        guard let value = object[key] else { return nil }
        guard let read = read(value) else { throw .malformed("\(key) of the wrong type") }
        return read
    }

    /// The record's members, without key id and signature.
    private var fields: JSONObject {
        var object: JSONObject = [
            "v": .number(Double(Self.version)),
            "upstream": .string(upstream),
            "scope": .string(scope.name),
            "request_cid": .string(requestCID.string),
            "content_cid": .string(contentCID.string),
            "size": .number(Double(size)),
            "created": .number(Double(created)),
            "expires": .number(Double(expires)),
        ]
        if let tokens { object["tokens"] = .number(Double(tokens)) }
        if let costUSD { object["cost_usd"] = .number(costUSD) }
        if let contentType { object["content_type"] = .string(contentType) }
        if sample > 0 { object["sample"] = .number(Double(sample)) }
        return object
    }
}
