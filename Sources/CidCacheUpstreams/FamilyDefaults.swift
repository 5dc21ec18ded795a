/// A namespace a family brings without any config: its name, where its
/// upstream is by default, the environment variables that point it elsewhere
/// and hold its credential, and how many calls it takes.
public struct BuiltInNamespace: Sendable {
    public let name: String
    public let defaultURL: String
    /// Variables whose value, when set, is the base URL; first set wins.
    public let urlVariables: [String]
    /// Variables whose value, when set, is the credential; first set wins.
    public let keyVariables: [String]
    public let limits: UpstreamLimits

    public init(_ name: String, url: String, urlVariables: [String] = [], keyVariables: [String] = [],
                limits: UpstreamLimits = .selfHosted) {
        self.name = name
        defaultURL = url
        self.urlVariables = urlVariables
        self.keyVariables = keyVariables
        self.limits = limits
    }
}

/// How many upstream calls a namespace may have in flight, and start in a minute.
public struct UpstreamLimits: Sendable, Equatable {
    public var concurrent: Int
    /// nil: no per-minute limit (self-hosted servers).
    public var perMinute: Int?

    public init(concurrent: Int, perMinute: Int?) {
        self.concurrent = concurrent
        self.perMinute = perMinute
    }

    /// A server of one's own: limited only in concurrency.
    public static let selfHosted = UpstreamLimits(concurrent: 16, perMinute: nil)

    /// The limits of a namespace nobody configured: its built-in namespace's
    /// (each API's public limits for a first paid tier), else `selfHosted`.
    public static func defaults(for namespace: String) -> UpstreamLimits {
        FamilyRegistry.builtInNamespaces[namespace]?.namespace.limits ?? selfHosted
    }
}

/// What a model costs, in USD per million tokens.
public struct ModelPrice: Sendable, Equatable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
}

/// Shapes of credentials, redacted wherever an upstream echoes one.
public enum CredentialPattern {
    /// Keys that start with one of `prefixes` and a `-` or `_` (`sk-...`, `hf_...`).
    static func prefixed(_ prefixes: [String]) -> String {
        "(" + prefixes.joined(separator: "|") + #")[-_][A-Za-z0-9_\-\*\.]{4,}"#
    }
}
