import CidCacheCore

/// One API family (OpenAI, Anthropic, the HF Hub, ...): everything the engine
/// needs to know to key, call and account one of its operations. Families are
/// pure: they build requests and read answers; the engine does the I/O.
public protocol UpstreamFamily: Sendable {
    /// The name a config file uses for it (`"family": "openai"`).
    var name: String { get }
    /// The operations it serves, in README order.
    var operations: [String] { get }
    /// Whether the family's answers depend on who asks, so entries are scoped by credential.
    var isCredentialScoped: Bool { get }
    /// Whether calls fail with EACCES when no credential is configured.
    var requiresCredential: Bool { get }
    /// Headers that select an API version, part of the upstream identity.
    var versionHeaders: [(name: String, value: String)] { get }

    /// Top-level request fields that cannot change the answer, dropped before keying.
    func droppedFields(op: String) -> Set<String>
    /// Refuses requests missing what the operation requires (EINVAL).
    func validate(op: String, request: JSONObject) throws
    /// The default TTL of an answer to this request, in seconds (docs/REFERENCE.md §8).
    func defaultTTL(op: String, request: JSONObject) -> Int
    /// The HTTP call for a request; `body` is the caller's bytes minus dropped fields.
    func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest
    /// The usage an answer reports (tokens and model), when it reports any;
    /// streamed answers included (server-sent events, NDJSON).
    func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage?

    /// Whether `op` is one of the family's operations. Defaults to membership in
    /// `operations`; a family whose operations are open-ended (OPEA's routes)
    /// accepts a pattern and lists only its well-known names in `operations`.
    func acceptsOperation(_ op: String) -> Bool
    /// Whether the upstream will stream its answer to this request (server-sent
    /// events or NDJSON), so the answer is stored only when `isCompleteStream`.
    func streams(op: String, request: JSONObject) -> Bool
    /// Whether a streamed answer ended with the family's terminal event
    /// (`data: [DONE]`, Anthropic's `message_stop`, Ollama's `"done": true`);
    /// an answer cut short before it is never stored or served as a hit.
    func isCompleteStream(op: String, body: [UInt8]) -> Bool
    /// The base URL calls go to, from the one configured. Defaults to it
    /// unchanged; Ollama completes an `OLLAMA_HOST`-style `host[:port]`.
    func effectiveBaseURL(_ configured: String) -> String
    /// Settings beyond the base URL and credential (S3's secret key and region,
    /// Docker's API version): setting name → environment variables, first set
    /// wins. `CIDCACHE_<NS>_<SETTING>` and the config's `settings` override them.
    var settingVariables: [String: [String]] { get }
    /// Parts of the upstream identity beyond family, URL, version headers and
    /// credential scope (S3's region, Docker's API version); never a secret.
    func identityParts(endpoint: Endpoint) -> [String]
    /// What the credential scope is a keyed hash of: the whole credential (S3:
    /// the key id and its secret, so fixing a wrong secret is a new scope); nil without one.
    func scopeMaterial(endpoint: Endpoint) -> String?
    /// Whether an operation's answer comes from a call (false: computed here,
    /// as S3's presigned URLs are), so its hits save no call and no latency.
    func callsUpstream(op: String) -> Bool
}

extension UpstreamFamily {
    public var isCredentialScoped: Bool { false }
    public var requiresCredential: Bool { false }
    public var versionHeaders: [(name: String, value: String)] { [] }
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? { nil }
    public func acceptsOperation(_ op: String) -> Bool { operations.contains(op) }
    public func streams(op: String, request: JSONObject) -> Bool { false }
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool { true }
    public func effectiveBaseURL(_ configured: String) -> String { configured }
    public var settingVariables: [String: [String]] { [:] }
    public func identityParts(endpoint: Endpoint) -> [String] { [] }
    public func scopeMaterial(endpoint: Endpoint) -> String? { endpoint.credential }
    public func callsUpstream(op: String) -> Bool { true }
}

/// Where a namespace's upstream lives and the credential it is called with.
public struct Endpoint: Sendable {
    /// The base URL, as configured (e.g. `https://api.openai.com/v1`).
    public var baseURL: String
    /// The credential, never stored or logged.
    public var credential: String?
    /// The family's further settings (`UpstreamFamily.settingVariables`); may hold secrets, never stored or logged.
    public var settings: [String: String]
    public init(baseURL: String, credential: String?, settings: [String: String] = [:]) {
        self.baseURL = baseURL
        self.credential = credential
        self.settings = settings
    }

    /// `baseURL` joined with an absolute path, without doubling slashes.
    public func url(_ path: String) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}

/// One HTTP call to an upstream.
public struct UpstreamHTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// What a redirect to another origin does; never carries a credential there.
    public var crossOriginRedirects: CrossOriginRedirects
    /// Whether the answer is a stream, whose body is bounded by the stream bounds, not the upstream timeout.
    public var streamed = false
    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8]?,
                crossOriginRedirects: CrossOriginRedirects = .followWithoutCredentials) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.crossOriginRedirects = crossOriginRedirects
    }
}

/// The temperature rule of docs/REFERENCE.md §8: temperature 0 lives an hour,
/// anything else (absent, null, not a number) half an hour.
public enum TemperatureRule {
    public static let deterministicTTL = 3600
    public static let sampledTTL = 1800

    /// The TTL for a temperature found at `path` in the request.
    public static func ttl(_ request: JSONObject, path: [String]) -> Int {
        var value: JSON? = .object(request)
        for key in path { value = value?.objectValue?[key] }
        if let t = value?.doubleValue, t == 0 { return deterministicTTL }
        return sampledTTL
    }
}
