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
    /// The default TTL of an answer to this request, in seconds (SPEC section 4).
    func defaultTTL(op: String, request: JSONObject) -> Int
    /// The HTTP call for a request; `body` is the caller's bytes minus dropped fields.
    func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest
    /// The usage an answer reports (tokens and model), when it reports any.
    func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage?
}

extension UpstreamFamily {
    public var isCredentialScoped: Bool { false }
    public var requiresCredential: Bool { false }
    public var versionHeaders: [(name: String, value: String)] { [] }
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? { nil }
}

/// Where a namespace's upstream lives and the credential it is called with.
public struct Endpoint: Sendable {
    /// The base URL, as configured (e.g. `https://api.openai.com/v1`).
    public var baseURL: String
    /// The credential, never stored or logged.
    public var credential: String?
    public init(baseURL: String, credential: String?) {
        self.baseURL = baseURL
        self.credential = credential
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
    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8]?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// The temperature rule of SPEC section 4: temperature 0 lives an hour,
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
