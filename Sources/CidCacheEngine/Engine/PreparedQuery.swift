public import CidCacheCore
import CidCacheStore
public import CidCacheUpstreams

/// A request after parsing, normalization and keying: everything the engine
/// needs to answer it, computed before any lookup.
public struct PreparedQuery: Sendable {
    /// The namespace, with the caller's own credential when it brought one (`QueryOptions.credential`).
    public internal(set) var namespace: Namespace
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
    public internal(set) var control: QueryControl
    /// Passed through uncached (`no_store`, or a private operation): decided at keying.
    public internal(set) var bypassesCache: Bool

    /// How many samples its answer keeps (docs/REFERENCE.md §8.1): 1 unless the request is sampled and asked for more.
    public let samples: Int
    /// The sample it asks for or was given (`takeSample`); 0 for every unsampled request.
    public internal(set) var sample: Int

    /// Whether a live entry may answer it (not bypassed, not `refresh`).
    public var servesFromCache: Bool { !bypassesCache && !control.refresh }

    /// Whether it keeps a bucket of several samples.
    public var isSampled: Bool { samples > 1 }

    /// Whether the upstream streams its answer (server-sent events, NDJSON).
    public var streams: Bool { operation.streams(request) }
}

/// What a front asks beyond the request's bytes, from its own protocol (the
/// HTTP front's `Cache-Control` and credential headers). The request's own
/// control object (§6) still applies; these only add to it.
public struct QueryOptions: Sendable, Equatable {
    /// Fetch anew even when a live entry exists, as `"refresh": true` does.
    public var refresh = false
    /// Answer without storing, as `"no_store": true` does.
    public var noStore = false
    /// The caller's own credential, used for the upstream call and the
    /// credential scope instead of the configured one; never stored or logged.
    public var credential: String?
    /// The caller's name, when it presented one of the HTTP front's caller
    /// keys: its answers are counted under that name too (`stats/all.json` `callers`).
    public var caller: String?
    /// The marks of the daemons the request passed through (`x-cidcache-hop`),
    /// carried on by the upstream call (`HopMark.carried`).
    public var hops: [String] = []

    public init(refresh: Bool = false, noStore: Bool = false, credential: String? = nil, caller: String? = nil) {
        self.refresh = refresh
        self.noStore = noStore
        self.credential = credential
        self.caller = caller
    }
}

/// The `cidcache` control object of a request (docs/REFERENCE.md §6).
public struct QueryControl: Sendable, Equatable {
    /// Fetch anew even when a live entry exists.
    public var refresh = false
    /// TTL override in seconds.
    public var ttl: Int?
    /// Answer without storing.
    public var noStore = false
    /// How many samples to keep of a sampled request (§8.1).
    public var samples: Int?
    /// Which sample to answer, 0-based.
    public var sample: Int?

    public static let key = "cidcache"
    public static let maximumTTL = 10 * 365 * 86_400
    /// The most samples a request keeps.
    public static let maximumSamples = 64

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
            case "samples":
                guard let n = field.intValue, (1...Self.maximumSamples).contains(n) else {
                    throw CacheError(.invalidRequest, "cidcache.samples must be an integer from 1 to \(Self.maximumSamples)")
                }
                samples = n
            case "sample":
                guard let n = field.intValue, (0..<Self.maximumSamples).contains(n) else {
                    throw CacheError(.invalidRequest, "cidcache.sample must be an integer from 0 to \(Self.maximumSamples - 1)")
                }
                sample = n
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
    /// The `Content-Type` the upstream gave the answer; nil when not known
    /// (stored before content types were, or fetched whole by the family itself).
    public let contentType: String?
    /// Whether the body is a stream (server-sent events, NDJSON) to pass on as
    /// it arrives: the request asked for one and the upstream's content type,
    /// when known, is a stream's. A whole JSON answer to a stream request is none.
    public let streamed: Bool
    /// Which sample of a sampled request it is (docs/REFERENCE.md §8.1); nil for every other request.
    public let sample: Int?
    /// How many samples the request keeps (1 unless sampled).
    public let samples: Int

    init(_ query: PreparedQuery, contentCID: CID?, body: ResponseBody, outcome: Outcome, entry: EntryRecord?,
         contentType: String?) {
        requestCID = query.requestCID
        self.contentCID = contentCID
        self.body = body
        self.outcome = outcome
        self.entry = entry
        self.contentType = contentType
        streamed = query.streams && (contentType.map(WireFormat.isStreamContentType) ?? true)
        sample = query.isSampled ? query.sample : nil
        samples = query.samples
    }
}
