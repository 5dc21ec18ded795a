import CidCacheCore
public import CidCacheUpstreams
import Foundation

/// A namespace ready to serve: its family, endpoint and upstream identity.
public final class Namespace: Sendable {
    public let name: String
    public let family: any UpstreamFamily
    public let endpoint: Endpoint
    /// Short digest of the upstream identity (docs/REFERENCE.md §1.5); half of every index key.
    public let upstream: String
    /// The upstream identity without this machine's secret (its credential
    /// scope left out): the same on every machine, for the shared tier.
    public let sharedUpstream: String
    /// Where the base URL came from, for messages: an environment variable's
    /// name, `namespaces.NS.url` of the config file, or the built-in default.
    public let urlSource: String

    init(name: String, family: any UpstreamFamily, endpoint: Endpoint, secret: [UInt8], urlSource: String) {
        self.name = name
        self.family = family
        self.endpoint = endpoint
        self.urlSource = urlSource
        let parts = NamespaceResolver.identityParts(family: family, endpoint: endpoint)
        upstream = NamespaceResolver.digest(parts + NamespaceResolver.scopePart(family: family, endpoint: endpoint, secret: secret))
        sharedUpstream = NamespaceResolver.digest(parts)
    }

    /// What the shared tier scopes its entries by: the credential of a
    /// credential-scoped family (nil when none is configured, or the family is not).
    public var sharedScopeMaterial: String? {
        family.isCredentialScoped ? family.scopeMaterial(endpoint: endpoint) : nil
    }

    /// The credential a caller's request headers carry in a header the
    /// family takes one in (`Authorization: Bearer`, `x-api-key`, ...), if any.
    public func callerCredential(in headers: [(name: String, value: String)]) -> String? {
        family.acceptedCredentialHeaders.lazy.compactMap { $0.credential(in: headers) }.first
    }

    /// `headers` without any header the family takes a credential in: a
    /// caller key stays with the front, the configured credential goes upstream instead.
    public func removingCallerCredential(from headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        let names = Set(family.acceptedCredentialHeaders.map { $0.name.lowercased() })
        return headers.filter { !names.contains($0.name.lowercased()) }
    }

    /// The namespace as a caller with its own credential sees it: that
    /// credential for the calls and, for credential-scoped families, its scope
    /// in the upstream identity (docs/REFERENCE.md §1.5).
    func calling(with credential: String, secret: [UInt8]) -> Namespace {
        var endpoint = self.endpoint
        endpoint.credential = credential
        return Namespace(name: name, family: family, endpoint: endpoint, secret: secret, urlSource: urlSource)
    }
}

/// Builds the namespaces of a mount from the built-in table, the config file
/// and the environment (the ecosystem's variables, then `CIDCACHE_<NS>_URL/KEY`).
public enum NamespaceResolver {
    struct BuiltIn {
        let family: String
        let defaultURL: String
        let urlVariables: [String]
        let keyVariables: [String]
    }

    static let builtIns: [String: BuiltIn] = [
        "openai": BuiltIn(family: "openai", defaultURL: "https://api.openai.com/v1",
                          urlVariables: ["OPENAI_BASE_URL"], keyVariables: ["OPENAI_API_KEY"]),
        "groq": BuiltIn(family: "openai", defaultURL: "https://api.groq.com/openai/v1",
                        urlVariables: [], keyVariables: ["GROQ_API_KEY"]),
        "vllm": BuiltIn(family: "openai", defaultURL: "http://127.0.0.1:8000/v1",
                        urlVariables: [], keyVariables: ["VLLM_API_KEY"]),
        "anthropic": BuiltIn(family: "anthropic", defaultURL: "https://api.anthropic.com",
                             urlVariables: ["ANTHROPIC_BASE_URL"], keyVariables: ["ANTHROPIC_API_KEY"]),
        // Google's SDKs prefer GOOGLE_API_KEY when both are set.
        "gemini": BuiltIn(family: "gemini", defaultURL: "https://generativelanguage.googleapis.com",
                          urlVariables: [], keyVariables: ["GOOGLE_API_KEY", "GEMINI_API_KEY"]),
        // OLLAMA_HOST may be a bare host[:port]; the family completes it.
        "ollama": BuiltIn(family: "ollama", defaultURL: "http://127.0.0.1:11434",
                          urlVariables: ["OLLAMA_HOST"], keyVariables: []),
        "tgi": BuiltIn(family: "tgi", defaultURL: "http://127.0.0.1:8080",
                       urlVariables: [], keyVariables: ["HF_TOKEN"]),
        "tei": BuiltIn(family: "tei", defaultURL: "http://127.0.0.1:8080",
                       urlVariables: [], keyVariables: []),
        // OVMS's documented REST port (--rest_port 8000; 9000 is its gRPC port).
        "ovms": BuiltIn(family: "ovms", defaultURL: "http://127.0.0.1:8000",
                        urlVariables: [], keyVariables: []),
        "opea": BuiltIn(family: "opea", defaultURL: "http://127.0.0.1:8888",
                        urlVariables: [], keyVariables: []),
        "hf": BuiltIn(family: "hf", defaultURL: "https://huggingface.co",
                      urlVariables: ["HF_ENDPOINT"], keyVariables: ["HF_TOKEN"]),
        // gh's precedence: GH_TOKEN before GITHUB_TOKEN.
        "github": BuiltIn(family: "github", defaultURL: "https://api.github.com",
                          urlVariables: ["GITHUB_API_URL"], keyVariables: ["GH_TOKEN", "GITHUB_TOKEN"]),
        "codeql": BuiltIn(family: "codeql", defaultURL: "https://api.github.com",
                          urlVariables: ["GITHUB_API_URL"], keyVariables: ["GH_TOKEN", "GITHUB_TOKEN"]),
        // Kubo's RPC address; CIDCACHE_IPFS_URL points it elsewhere.
        "ipfs": BuiltIn(family: "ipfs", defaultURL: "http://127.0.0.1:5001",
                        urlVariables: [], keyVariables: []),
        // The key pair's id is the credential (scope); the secret and region are settings.
        // `{region}` is filled in by the family.
        "s3": BuiltIn(family: "s3", defaultURL: "https://s3.{region}.amazonaws.com",
                      urlVariables: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], keyVariables: ["AWS_ACCESS_KEY_ID"]),
        // DOCKER_HOST: unix:///path or tcp://host:port; the credential is for registries (user:password).
        "docker": BuiltIn(family: "docker", defaultURL: "unix:///var/run/docker.sock",
                          urlVariables: ["DOCKER_HOST"], keyVariables: []),
        "exec": BuiltIn(family: "exec", defaultURL: "exec://localhost", urlVariables: [], keyVariables: []),
    ]

    /// The variable prefix of a namespace: upper-cased, dots and dashes as `_`.
    public static func variablePrefix(_ namespace: String) -> String {
        "CIDCACHE_" + String(namespace.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    /// Every namespace of the mount, sorted by name.
    public static func resolve(config: CacheConfig, environment: [String: String], secret: [UInt8]) throws -> [Namespace] {
        var specs: [String: (family: String, url: (text: String, source: String), keyVariables: [String])] = [:]
        for (name, builtIn) in builtIns {
            let variable = builtIn.urlVariables.first { !(environment[$0] ?? "").isEmpty }
            let url = variable.map { (text: environment[$0]!, source: $0) } ?? (text: builtIn.defaultURL, source: "the built-in default")
            specs[name] = (builtIn.family, url, builtIn.keyVariables)
        }
        for (name, settings) in config.namespaces {
            let existing = specs[name]
            let url = settings.url.map { (text: $0, source: "namespaces.\(name).url of the config file") } ?? existing?.url
            guard let url else {
                throw CacheError(.invalidRequest, "namespace \(name) needs a url")
            }
            let keys = settings.keyEnvironmentVariable.map { [$0] } ?? existing?.keyVariables ?? []
            specs[name] = (settings.family, url, keys)
        }
        return try specs.keys.sorted().map { name in
            let spec = specs[name]!
            guard var family = FamilyRegistry.family(named: spec.family) else {
                throw CacheError(.invalidRequest, "namespace \(name): unknown family \"\(spec.family)\"")
            }
            family = try family.configured(with: FamilyOptions(execCommands: config.execCommands,
                                                               responseLimitBytes: config.responseLimitBytes))
            let prefix = variablePrefix(name)
            let url = environment[prefix + "_URL"].flatMap { $0.isEmpty ? nil : (text: $0, source: prefix + "_URL") } ?? spec.url
            let key = environment[prefix + "_KEY"].flatMap { $0.isEmpty ? nil : $0 }
                ?? spec.keyVariables.compactMap { environment[$0] }.first { !$0.isEmpty }
            let endpoint = Endpoint(baseURL: family.effectiveBaseURL(url.text), credential: key,
                                    settings: try settings(family: family, namespace: name, config: config, environment: environment))
            return Namespace(name: name, family: family, endpoint: endpoint, secret: secret, urlSource: url.source)
        }
    }

    /// A family's settings: `CIDCACHE_<NS>_<SETTING>`, else the config's
    /// `settings`, else the family's environment variables.
    static func settings(family: any UpstreamFamily, namespace: String, config: CacheConfig,
                         environment: [String: String]) throws -> [String: String] {
        let configured = config.namespaces[namespace]?.settings ?? [:]
        if let unknown = configured.keys.sorted().first(where: { family.settingVariables[$0] == nil }) {
            let known = family.settingVariables.keys.sorted().joined(separator: ", ")
            throw CacheError(.invalidRequest, "namespaces.\(namespace).settings: unknown setting \"\(unknown)\" (known: \(known.isEmpty ? "none" : known))")
        }
        var settings: [String: String] = [:]
        for (setting, variables) in family.settingVariables {
            let override = variablePrefix(namespace) + "_" + variablePrefix(setting).dropFirst("CIDCACHE_".count)
            let value = environment[override].flatMap { $0.isEmpty ? nil : $0 } ?? configured[setting]
                ?? variables.compactMap { environment[$0] }.first { !$0.isEmpty }
            if let value { settings[setting] = value }
        }
        return settings
    }

    /// docs/REFERENCE.md §1.5: family, normalized base URL, version headers and
    /// the family's further identity parts; a namespace's identity adds its credential scope.
    static func identityParts(family: any UpstreamFamily, endpoint: Endpoint) -> [String] {
        [family.name, normalizedURL(endpoint.baseURL)]
            + family.versionHeaders.map { "\($0.name.lowercased())=\($0.value)" }
            + family.identityParts(endpoint: endpoint)
    }

    /// For credential-scoped families, a keyed hash of the credential under this machine's secret.
    static func scopePart(family: any UpstreamFamily, endpoint: Endpoint, secret: [UInt8]) -> [String] {
        guard family.isCredentialScoped else { return [] }
        let scope = family.scopeMaterial(endpoint: endpoint).map { Hex.encode(HMACSHA256.authenticate(message: Array($0.utf8), key: secret)) }
        return ["scope=" + (scope ?? "anonymous")]
    }

    /// An identity's parts digested short: 16 hex digits.
    static func digest(_ parts: [String]) -> String {
        String(Hex.encode(SHA256.hash(Array(parts.joined(separator: "\n").utf8))).prefix(16))
    }

    /// Scheme and host lower-cased, default port and trailing slashes removed.
    static func normalizedURL(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd].lowercased()
        var path = String(rest[authorityEnd...])
        let defaultPort = scheme == "https" ? ":443" : scheme == "http" ? ":80" : nil
        if let defaultPort, authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        while path.hasSuffix("/") { path.removeLast() }
        return "\(scheme)://\(authority)\(path)"
    }
}
