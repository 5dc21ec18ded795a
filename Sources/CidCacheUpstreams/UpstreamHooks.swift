import CidCacheCore

/// A family whose answer is not simply the body of one HTTP call: a presigned
/// URL computed locally, a command's output, an XML listing turned into JSON,
/// a registry's token handshake before the call. It fetches the answer itself
/// (through `client` for HTTP) and returns the whole body; the engine keys,
/// coalesces, stores and accounts it like any other.
/// The engine runs `fetch` within the namespace's limits, like any upstream call.
public protocol SelfFetchingFamily: UpstreamFamily {
    func fetch(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint,
               client: UpstreamClient) async throws -> [UInt8]

    /// Whether a failed `fetch` is worth repeating when it looks transient
    /// (no answer at all, or a 429/5xx status): true for network upstreams.
    var retriesFailures: Bool { get }
}

extension SelfFetchingFamily {
    public var retriesFailures: Bool { true }
}

/// A family that reads more than the status of an error answer (GitHub's
/// rate-limit headers make a 403 mean "busy", so a stale entry may stand in).
public protocol ErrorMappingFamily: UpstreamFamily {
    /// The failure for an error answer, or nil for the status's default (docs/REFERENCE.md §5.1).
    func error(op: String, status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError?
}

/// A family whose key needs more than the request as written: `exec` adds the
/// content CIDs of the named input files (so a changed file is a new request)
/// and the allow-listed argv. The engine calls it after `validate` and before
/// keying; the result is the request that is keyed and handed to `fetch`.
public protocol RequestEnrichingFamily: UpstreamFamily {
    func enrich(op: String, request: JSONObject) throws -> JSONObject
}

/// What of the config a family may need to serve.
public struct FamilyOptions: Sendable {
    /// `exec`'s allow-listed commands, by operation name.
    public var execCommands: [String: ExecCommand]
    /// The largest answer taken in.
    public var responseLimitBytes: Int
    public init(execCommands: [String: ExecCommand], responseLimitBytes: Int) {
        self.execCommands = execCommands
        self.responseLimitBytes = responseLimitBytes
    }
}

/// A family that needs the config to serve (`exec`'s allow-listed commands):
/// the namespace resolver serves the configured instance instead of the
/// registry's one.
public protocol ConfigurableFamily: UpstreamFamily {
    func configured(with options: FamilyOptions) throws -> any UpstreamFamily
}
