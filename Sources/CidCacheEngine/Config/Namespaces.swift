import CidCacheCore
public import CidCacheUpstreams
import Foundation

/// A namespace ready to serve: its family, endpoint and upstream identity.
/// The fronts see its operations and HTTP surface, never its family.
public final class Namespace: Sendable {
    public let name: String
    let family: any UpstreamFamily
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

    /// The name of its family, for listings (`"family"` in a config file).
    public var familyName: String { family.name }

    /// The base URL its calls go to, for listings.
    public var baseURL: String { endpoint.baseURL }

    /// The names of the operations it lists, in README order.
    public var operations: [String] { family.operations }

    /// The HTTP front's routes into it; every other path is passed through.
    public var routes: [FrontRoute] { family.frontRoutes }

    /// How the HTTP front words its own failures for the family's SDKs.
    public var errorFormat: ErrorFormat { family.errorFormat }

    /// The `Content-Type` of a streamed answer of operation `op`; nil when it never streams.
    public func streamContentType(of op: String) -> String? {
        family.operation(named: op)?.streamContentType
    }

    /// Whether a configured credential goes upstream in a header the family
    /// takes one in (so a caller's own header would stand in for it).
    public var sendsConfiguredCredentialHeader: Bool {
        endpoint.credential != nil && family.credentialHeader != nil
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
    /// The variable prefix of a namespace: upper-cased, dots and dashes as `_`.
    public static func variablePrefix(_ namespace: String) -> String {
        "CIDCACHE_" + String(namespace.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    /// Every namespace of the mount, sorted by name.
    public static func resolve(config: CacheConfig, environment: [String: String], secret: [UInt8]) throws -> [Namespace] {
        var specs: [String: (family: String, url: (text: String, source: String), keyVariables: [String])] = [:]
        for (name, builtIn) in FamilyRegistry.builtInNamespaces {
            let variable = builtIn.namespace.urlVariables.first { !(environment[$0] ?? "").isEmpty }
            let url = variable.map { (text: environment[$0]!, source: $0) }
                ?? (text: builtIn.namespace.defaultURL, source: "the built-in default")
            specs[name] = (builtIn.family, url, builtIn.namespace.keyVariables)
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
