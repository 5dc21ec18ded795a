import CidCacheCore
import CidCacheUpstreams
import CidCacheStore

/// A request after parsing, normalization and keying: everything the engine
/// needs to answer it, computed before any lookup.
public struct PreparedQuery: Sendable {
    public let namespace: Namespace
    /// The operation asked for, resolved once at keying.
    public let operation: UpstreamOperation
    public var op: String { operation.name }
    /// The normalized request (dropped fields and the control object removed).
    public let request: JSONObject
    /// The caller's own bytes minus the dropped members: what the upstream receives.
    public let upstreamBody: [UInt8]
    /// The key document in JCS form; its CID is the request CID.
    public let keyDocument: [UInt8]
    public let requestCID: CID
    public let control: QueryControl
    /// Passed through uncached (`no_store`, or a private operation): decided once, at keying.
    public let bypassesCache: Bool

    /// Whether a live entry may answer it (not bypassed, not `refresh`).
    public var servesFromCache: Bool { !bypassesCache && !control.refresh }
}

/// The `cidcache` control object of a request (docs/REFERENCE.md §6).
public struct QueryControl: Sendable, Equatable {
    /// Fetch anew even when a live entry exists.
    public var refresh = false
    /// TTL override in seconds.
    public var ttl: Int?
    /// Answer without storing.
    public var noStore = false

    public static let key = "cidcache"
    public static let maximumTTL = 10 * 365 * 86_400

    init(_ value: JSON?) throws {
        guard let value else { return }
        guard let object = value.objectValue else {
            throw CacheError(.invalidRequest, "\"cidcache\" must be an object")
        }
        for (key, field) in object.members {
            switch key {
            case "refresh":
                guard let b = field.boolValue else { throw CacheError(.invalidRequest, "cidcache.refresh must be true or false") }
                refresh = b
            case "no_store":
                guard let b = field.boolValue else { throw CacheError(.invalidRequest, "cidcache.no_store must be true or false") }
                noStore = b
            case "ttl":
                // Capped at ten years, so expiry arithmetic can never overflow.
                guard let n = field.intValue, n >= 0, n <= Self.maximumTTL else {
                    throw CacheError(.invalidRequest, "cidcache.ttl must be an integer from 0 to \(Self.maximumTTL)")
                }
                ttl = n
            default:
                throw CacheError(.invalidRequest, "unknown cidcache control \"\(key)\"")
            }
        }
    }
}

/// How a query was answered (the `outcome` of a log line).
public enum Outcome: String, Sendable {
    case hit, miss, coalesced, stale, bypassed, error
    /// Answered by the shared tier (and stored here).
    case shared
}

/// The answer to one query.
public struct Answer: Sendable {
    public let requestCID: CID
    /// The content CID, when known before the body ends (hits, stale answers).
    public let contentCID: CID?
    /// The bytes, possibly still arriving.
    public let body: ResponseBody
    public let outcome: Outcome
    /// The stored entry, unless the answer was not stored.
    public let entry: EntryRecord?
}
