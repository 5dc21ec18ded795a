/// Why a record or body from the bucket was not used; each is a shared miss, counted.
public enum SharedRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a record: unparseable JSON, or a field missing or of the wrong type or version.
    case malformed(String)
    /// No signature or no key id.
    case unsigned
    /// Signed by a key that is not in `trusted_keys` (the key id is public).
    case unknownKey(String)
    /// The signature does not verify under the named trusted key.
    case badSignature
    /// The record belongs to another scope than the one it was read from.
    case otherScope
    /// The record is for another request than the one it was read for.
    case otherRequest
    /// A record of another sample of the request than its key names.
    case otherSample
    /// Created before the config's `not_before`.
    case createdBeforeNotBefore
    /// Past its `expires`.
    case expired
    /// A sealed object that fails authentication: another credential or altered bytes.
    case undecryptable
    /// A body whose CID is not the one the record names.
    case contentMismatch

    /// A short name, for counters and `errors` lines.
    public var reason: String {
        switch self {
        case .malformed: return "malformed"
        case .unsigned: return "unsigned"
        case .unknownKey: return "unknown_key"
        case .badSignature: return "bad_signature"
        case .otherScope: return "other_scope"
        case .otherRequest: return "other_request"
        case .otherSample: return "other_sample"
        case .createdBeforeNotBefore: return "before_not_before"
        case .expired: return "expired"
        case .undecryptable: return "undecryptable"
        case .contentMismatch: return "content_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): return "malformed shared record: \(detail)"
        case .unknownKey(let keyID): return "shared record signed by an untrusted key \(keyID)"
        default: return "shared record refused: \(reason)"
        }
    }
}
