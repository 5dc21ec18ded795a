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
    /// Which sample of its request it is, and how many the request was asked with (1: unsampled).
    public var sample: Int
    public var samples: Int

    public init(requestCID: String, upstream: String, namespace: String, op: String, contentCID: String,
                size: Int64, fetched: Int64, expires: Int64, ttl: Int64, tokens: Int64, costUSD: Double, fetchMs: Int64,
                contentType: String? = nil, sample: Int = 0, samples: Int = 1) {
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
        self.sample = sample
        self.samples = samples
    }
}
