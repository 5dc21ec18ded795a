// The index's records as every layer reads them: the store keeps and
// returns them, the engine hands them to the fronts (`Answer.entry`, the
// listings, `verify`'s report), so a front names them without seeing the store.

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
    /// Which sample of its request it is (docs/REFERENCE.md §8.1); 0 for every unsampled answer.
    public var sample: Int
    /// How many samples its request was asked with when it was fetched; 1 for unsampled answers.
    public var samples: Int

    public init(id: Int64, requestCID: String, upstream: String, namespace: String, op: String, contentCID: String,
                size: Int64, fetched: Int64, expires: Int64, ttl: Int64, hits: Int64, lastAccess: Int64,
                tokens: Int64, costUSD: Double, fetchMs: Int64, contentType: String?, sample: Int = 0, samples: Int = 1) {
        self.id = id
        self.requestCID = requestCID
        self.upstream = upstream
        self.namespace = namespace
        self.op = op
        self.contentCID = contentCID
        self.size = size
        self.fetched = fetched
        self.expires = expires
        self.ttl = ttl
        self.hits = hits
        self.lastAccess = lastAccess
        self.tokens = tokens
        self.costUSD = costUSD
        self.fetchMs = fetchMs
        self.contentType = contentType
        self.sample = sample
        self.samples = samples
    }
}

/// Stored bytes, listed by row id for paged listings of `cid/`.
public struct BlobRecord: Sendable, Equatable {
    public var id: Int64
    public var cid: String
    public var size: Int64

    public init(id: Int64, cid: String, size: Int64) {
        self.id = id
        self.cid = cid
        self.size = size
    }
}

/// What `verify` found and did.
public struct VerifyReport: Sendable, Equatable {
    public var blobsChecked = 0
    /// Stored bytes missing, of the wrong size, or not matching their CID: dropped.
    public var badBlobs: [String] = []
    /// Files under blobs/ the index did not know (a crash between rename and insert): removed.
    public var strayFiles = 0
    /// Entries whose body or key document was gone: dropped.
    public var droppedEntries: [EntryRecord] = []
    public var temporaryFilesRemoved = 0
    public var indexIntact = true

    public init() {}
}
