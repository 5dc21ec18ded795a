import CidCacheCore

/// One API family (OpenAI, Anthropic, the HF Hub, ...): what is true of all
/// its operations (identity, credentials, settings) and the operations
/// themselves, each an `UpstreamOperation` that says how to key, fetch and
/// account it. The engine does the keying, limits, retries and storing; an
/// operation's transport may make several calls of its own (pages, handshakes).
public protocol UpstreamFamily: Sendable {
    /// The name a config file uses for it (`"family": "openai"`).
    var name: String { get }
    /// The operations it lists, in README order.
    var catalog: [UpstreamOperation] { get }
    /// The operation a name selects, nil when the family has none by that name.
    /// Defaults to a lookup in `catalog`; a family whose operations are
    /// open-ended (OPEA's routes, exec's commands) accepts a pattern.
    func operation(named name: String) -> UpstreamOperation?
    /// Whether the family's answers depend on who asks, so entries are scoped by credential.
    var isCredentialScoped: Bool { get }
    /// Whether calls fail with EACCES when no credential is configured.
    var requiresCredential: Bool { get }
    /// Whether its answers mean the same on another machine, so the shared
    /// tier may carry them (not exec's: they depend on this machine's files).
    var answersAreMachineIndependent: Bool { get }
    /// Headers that select an API version, part of the upstream identity.
    var versionHeaders: [(name: String, value: String)] { get }
    /// The header a credential travels in to this upstream; nil when it is
    /// not one header (S3 signs every call, Docker's goes to a token realm, exec has none).
    var credentialHeader: CredentialHeader? { get }
    /// The headers a caller's credential may come in, first found wins
    /// (Anthropic's SDKs send `x-api-key` or, newer ones, a bearer token).
    /// Defaults to `credentialHeader`.
    var acceptedCredentialHeaders: [CredentialHeader] { get }
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
    /// The family as a namespace serves it, given the config (`exec` takes its
    /// allow-listed commands from it). Defaults to the family unchanged.
    func configured(with options: FamilyOptions) throws -> any UpstreamFamily
    /// The namespaces it brings without any config. Defaults to none.
    var builtInNamespaces: [BuiltInNamespace] { get }
    /// How the HTTP front words its own failures for the family's SDKs.
    /// Defaults to `{"error": "message"}`.
    var errorFormat: ErrorFormat { get }
    /// The HTTP front's routes into it. Defaults to its operations' routes;
    /// OPEA's open-ended operations have one route that names them.
    var frontRoutes: [FrontRoute] { get }
    /// List prices of its well-known models, by model name (or its prefix). Defaults to none.
    var prices: [String: ModelPrice] { get }
    /// Regular expressions of its credentials' shapes, redacted from whatever
    /// any upstream echoes. Defaults to none.
    var credentialPatterns: [String] { get }
}

extension UpstreamFamily {
    /// The names of the listed operations, in README order.
    public var operations: [String] { catalog.map(\.name) }
    public func operation(named name: String) -> UpstreamOperation? { catalog.first { $0.name == name } }
    public var isCredentialScoped: Bool { false }
    public var requiresCredential: Bool { false }
    public var answersAreMachineIndependent: Bool { true }
    public var versionHeaders: [(name: String, value: String)] { [] }
    public var credentialHeader: CredentialHeader? { .bearer }
    public var acceptedCredentialHeaders: [CredentialHeader] { credentialHeader.map { [$0] } ?? [] }
    public func effectiveBaseURL(_ configured: String) -> String { configured }
    public var settingVariables: [String: [String]] { [:] }
    public func identityParts(endpoint: Endpoint) -> [String] { [] }
    public func scopeMaterial(endpoint: Endpoint) -> String? { endpoint.credential }
    public func configured(with options: FamilyOptions) throws -> any UpstreamFamily { self }
    public var builtInNamespaces: [BuiltInNamespace] { [] }
    public var errorFormat: ErrorFormat { .message }
    public var frontRoutes: [FrontRoute] {
        catalog.flatMap { operation in operation.routes.map { FrontRoute($0, .named(operation.name)) } }
    }
    public var prices: [String: ModelPrice] { [:] }
    public var credentialPatterns: [String] { [] }
}

/// The header a family's credential travels in.
public enum CredentialHeader: Sendable, Equatable {
    /// `Authorization: Bearer CREDENTIAL`.
    case bearer
    /// A header of its own holding the credential as it is (`x-api-key`).
    case named(String)

    /// The header's name.
    public var name: String {
        switch self {
        case .bearer: return "Authorization"
        case .named(let name): return name
        }
    }

    /// The header that carries `credential`.
    public func header(for credential: String) -> (name: String, value: String) {
        switch self {
        case .bearer: return (name: name, value: "Bearer " + credential)
        case .named(let name): return (name: name, value: credential)
        }
    }

    /// The credential a request's headers carry in this header, if any
    /// (a bearer without its `Bearer ` scheme, or an empty one, is none).
    public func credential(in headers: [(name: String, value: String)]) -> String? {
        guard let value = HTTPHeader.value(name, in: headers) else { return nil }
        let credential: Substring
        switch self {
        case .bearer:
            guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
            credential = value.dropFirst(7)
        case .named: credential = Substring(value)
        }
        let trimmed = credential.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
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
