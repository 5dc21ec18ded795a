/// One cached answer in the index: a request (under one upstream identity)
/// and the content CID of its body.
public struct EntryRecord: Sendable, Equatable {
    /// Row id; a refetch gets a new one, so fronts can tell fetches apart.
    public var id: Int64
    public var requestCID: String
    /// Short digest of the upstream identity the answer came from.
    public var upstream: String
    public var namespace: String
    public var op: String
    public var contentCID: String
    public var size: Int64
    /// When the upstream request was sent (Unix seconds).
    public var fetched: Int64
    /// fetched + ttl (Unix seconds).
    public var expires: Int64
    public var ttl: Int64
    public var hits: Int64
    public var lastAccess: Int64
    /// Tokens the upstream reported for the call (what a hit saves).
    public var tokens: Int64
    public var costUSD: Double
    /// How long the upstream took (what a hit saves).
    public var fetchMs: Int64
    /// The `Content-Type` the upstream gave the answer; nil when not known.
    public var contentType: String?
}

/// What the engine knows of a fresh answer before it is indexed.
public struct NewEntry: Sendable {
    public var requestCID: String
    public var upstream: String
    public var namespace: String
    public var op: String
    public var contentCID: String
    public var size: Int64
    public var fetched: Int64
    public var expires: Int64
    public var ttl: Int64
    public var tokens: Int64
    public var costUSD: Double
    public var fetchMs: Int64
    public var contentType: String?

    public init(requestCID: String, upstream: String, namespace: String, op: String, contentCID: String,
                size: Int64, fetched: Int64, expires: Int64, ttl: Int64, tokens: Int64, costUSD: Double, fetchMs: Int64,
                contentType: String? = nil) {
        self.requestCID = requestCID
        self.upstream = upstream
        self.namespace = namespace
        self.op = op
        self.contentCID = contentCID
        self.size = size
        self.fetched = fetched
        self.expires = expires
        self.ttl = ttl
        self.tokens = tokens
        self.costUSD = costUSD
        self.fetchMs = fetchMs
        self.contentType = contentType
    }
}

/// Stored bytes, listed by row id for paged listings of `cid/`.
public struct BlobRecord: Sendable, Equatable {
    public var id: Int64
    public var cid: String
    public var size: Int64
}
