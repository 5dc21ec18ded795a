import CidCacheCore
public import CidCacheShared
public import CidCacheUpstreams
import Foundation

/// Everything a mount can be configured with, read from the JSON config file.
/// Every field is optional; absent fields keep the defaults documented in the README.
public struct CacheConfig: Sendable {
    /// Answer from the cache only: a miss fails with ENETUNREACH.
    public var offline = false
    /// Seconds an upstream call may take before it fails with ETIMEDOUT: the
    /// whole call, except the body of a streamed answer (bounded by the two below).
    public var upstreamTimeoutSeconds = 300.0
    /// Seconds an answer's body may send nothing before it fails with ETIMEDOUT.
    public var streamIdleTimeoutSeconds = 60.0
    /// Seconds a streamed answer may run in all, from the call; nil: no cap.
    public var streamMaxSeconds: Double? = nil
    /// The largest request a query file accepts (EFBIG past it).
    public var requestLimitBytes = 8 * 1024 * 1024
    /// The largest upstream answer the cache takes in.
    public var responseLimitBytes = 256 * 1024 * 1024
    /// Further attempts after a failed upstream call (connection failure, 429, 5xx), with backoff.
    public var upstreamRetries = 2
    /// The first retry's wait; each later one doubles it (an upstream's Retry-After wins).
    public var retryBackoffMilliseconds = 500
    /// Per-namespace limits on upstream calls; absent namespaces use `UpstreamLimits.defaults`.
    public var limits: [String: UpstreamLimits] = [:]
    /// How long after expiry an entry may still be served when the upstream fails.
    public var staleWindowSeconds = 86_400
    /// Stored bytes past which the least recently used entries are evicted.
    public var diskBudgetBytes: Int64 = 10 << 30
    /// Size at which `errors` and `log` are rotated.
    public var logRotateBytes = 16 * 1024 * 1024
    /// Let other users see the mount (FUSE allow_other).
    public var allowOther = false
    /// TTL overrides: namespace → operation → seconds.
    public var ttlOverrides: [String: [String: Int]] = [:]
    /// Samples kept of sampled requests (§8.1): namespace → operation → N.
    public var sampleOverrides: [String: [String: Int]] = [:]
    /// Namespaces added or changed by the config file.
    public var namespaces: [String: NamespaceSettings] = [:]
    /// Model prices in USD per million tokens.
    public var prices: [String: ModelPrice] = [:]
    /// Operations that pass through uncached ("ns" or "ns.op" is not used: namespace → ops, "*" for all).
    public var privateOperations: [String: Set<String>] = [:]
    /// The `exec` family's allow-listed commands, by operation name.
    public var execCommands: [String: ExecCommand] = [:]
    /// The tier shared with other machines on an S3-compatible bucket; nil: none.
    public var shared: SharedTierConfig?
    /// Where the HTTP front listens (`http.listen`, `HOST:PORT`); nil: no HTTP front unless `--http` asks.
    public var httpListen: String?
    /// The HTTP front's caller keys (`http.keys_file`); nil: `caller-keys.json` in the data directory.
    public var httpKeysFile: String?
    /// Whether the HTTP front refuses (401) requests without a caller key (`http.require_key`).
    public var httpRequiresKey = false
    /// Host names the HTTP front answers besides loopback ones (`http.allowed_hosts`), lower-cased.
    public var httpAllowedHosts: Set<String> = []
    /// Web origins whose pages may call the HTTP front besides loopback ones (`http.allowed_origins`), lower-cased.
    public var httpAllowedOrigins: Set<String> = []

    public init() {}

    /// A namespace as the config file describes it.
    public struct NamespaceSettings: Sendable {
        /// The upstream family that serves it ("openai", ...).
        public var family: String
        public var url: String?
        /// Name of the environment variable that holds its key.
        public var keyEnvironmentVariable: String?
        /// The family's further settings (`UpstreamFamily.settingVariables`), e.g. S3's `region`.
        public var settings: [String: String] = [:]
        /// What the HTTP front passes through under the namespace (`pass_through`).
        public var passThrough = PassThroughPolicy.configuredForReads
        public init(family: String, url: String? = nil, keyEnvironmentVariable: String? = nil) {
            self.family = family
            self.url = url
            self.keyEnvironmentVariable = keyEnvironmentVariable
        }
    }

    /// Reads a config file; a missing path gives the defaults.
    public static func load(path: String?) throws -> CacheConfig {
        guard let path else { return CacheConfig() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CacheError(.invalidRequest, "cannot read config file \(path)")
        }
        return try parse([UInt8](data), source: path)
    }

    /// Parses the config document.
    public static func parse(_ bytes: [UInt8], source: String = "config") throws -> CacheConfig {
        let root: JSONObject
        do {
            guard let object = try CanonicalJSON.parse(bytes).objectValue else {
                throw CacheError(.invalidRequest, "\(source): the config must be a JSON object")
            }
            root = object
        } catch let error as CacheError {
            throw CacheError(.invalidRequest, "\(source): \(error.message)")
        }
        var config = CacheConfig()
        let reader = ConfigReader(source: source)
        // Settings per operation (`ttl`, `samples`) from their top-level section and from `namespaces.X`,
        // by setting: merged after the loop so the result never depends on the order of the keys.
        var sections: [String: [String: [String: Int]]] = [:], namespaceSections: [String: [String: [String: Int]]] = [:]
        for (key, value) in root.members {
            switch key {
            case "offline": config.offline = try reader.bool(value, key)
            case "upstream_timeout_s": config.upstreamTimeoutSeconds = try reader.positiveNumber(value, key)
            case "stream_idle_timeout_s": config.streamIdleTimeoutSeconds = try reader.positiveNumber(value, key)
            case "stream_max_s": config.streamMaxSeconds = value.isNull ? nil : try reader.positiveNumber(value, key)
            case "request_limit_bytes": config.requestLimitBytes = try reader.positiveInt(value, key)
            case "response_limit_bytes": config.responseLimitBytes = try reader.positiveInt(value, key)
            case "stale_window_s": config.staleWindowSeconds = try reader.nonNegativeInt(value, key)
            case "upstream_retries": config.upstreamRetries = try reader.nonNegativeInt(value, key)
            case "retry_backoff_ms": config.retryBackoffMilliseconds = try reader.nonNegativeInt(value, key)
            case "limits":
                for (namespace, spec) in try reader.object(value, key).members {
                    let object = try reader.object(spec, "limits.\(namespace)")
                    var limits = UpstreamLimits.defaults(for: namespace)
                    if let concurrent = object["concurrent"] {
                        limits.concurrent = try reader.positiveInt(concurrent, "limits.\(namespace).concurrent")
                    }
                    if let perMinute = object["per_minute"] {
                        limits.perMinute = perMinute.isNull ? nil : try reader.positiveInt(perMinute, "limits.\(namespace).per_minute")
                    }
                    config.limits[namespace] = limits
                }
            case "log_rotate_bytes": config.logRotateBytes = try reader.positiveInt(value, key)
            case "disk_budget_bytes": config.diskBudgetBytes = Int64(try reader.positiveInt(value, key))
            case "allow_other": config.allowOther = try reader.bool(value, key)
            case "ttl", "samples":
                for (namespace, ops) in try reader.object(value, key).members {
                    sections[key, default: [:]][namespace] = try reader.perOperation(key, ops, path: "\(key).\(namespace)")
                }
            case "namespaces":
                for (name, spec) in try reader.object(value, key).members {
                    let object = try reader.object(spec, "namespaces.\(name)")
                    // A built-in namespace keeps its family unless the entry names another.
                    guard let family = object["family"]?.stringValue ?? FamilyRegistry.builtInNamespaces[name]?.family else {
                        throw CacheError(.invalidRequest, "\(source): namespaces.\(name).family is required (\(name) is no built-in namespace)")
                    }
                    var settings = NamespaceSettings(family: family)
                    settings.url = object["url"]?.stringValue
                    settings.keyEnvironmentVariable = object["key_env"]?.stringValue
                    if let policy = object["pass_through"] {
                        guard let text = policy.stringValue, let parsed = PassThroughPolicy(rawValue: text) else {
                            throw reader.fail("namespaces.\(name).pass_through", "\"all\" or \"none\"")
                        }
                        settings.passThrough = parsed
                    }
                    if let extra = object["settings"] {
                        for (setting, text) in try reader.object(extra, "namespaces.\(name).settings").members {
                            guard let text = text.stringValue else {
                                throw CacheError(.invalidRequest, "\(source): namespaces.\(name).settings.\(setting) must be a string")
                            }
                            settings.settings[setting] = text
                        }
                    }
                    for setting in ["ttl", "samples"] {
                        guard let ops = object[setting] else { continue }
                        namespaceSections[setting, default: [:]][name] = try reader.perOperation(setting, ops, path: "namespaces.\(name).\(setting)")
                    }
                    config.namespaces[name] = settings
                }
            case "prices":
                for (model, spec) in try reader.object(value, key).members {
                    let object = try reader.object(spec, "prices.\(model)")
                    config.prices[model] = ModelPrice(
                        inputPerMillion: object["input_per_mtok"]?.doubleValue ?? 0,
                        outputPerMillion: object["output_per_mtok"]?.doubleValue ?? 0)
                }
            case "shared": config.shared = try SharedTierConfig(parsing: try reader.object(value, key), source: source)
            case ExecCommand.configSection: config.execCommands = try ExecCommand.parseSection(value, source: source)
            case "http":
                for (member, setting) in try reader.object(value, key).members {
                    switch member {
                    case "listen":
                        guard let listen = setting.stringValue else { throw reader.fail("http.listen", "a string HOST:PORT") }
                        config.httpListen = listen
                    case "keys_file":
                        guard let path = setting.stringValue, !path.isEmpty else { throw reader.fail("http.keys_file", "a file path") }
                        config.httpKeysFile = path
                    case "require_key": config.httpRequiresKey = try reader.bool(setting, "http.require_key")
                    case "allowed_hosts":
                        config.httpAllowedHosts = try reader.strings(setting, "http.allowed_hosts", "a list of host names") {
                            !$0.isEmpty && !$0.contains("/") && !$0.contains(":")
                        }
                    case "allowed_origins":
                        config.httpAllowedOrigins = try reader.strings(setting, "http.allowed_origins",
                                                                       "a list of origins like \"http://localhost:3000\"") {
                            let parts = $0.components(separatedBy: "://")
                            return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && !parts[1].contains("/")
                        }
                    default:
                        throw CacheError(.invalidRequest, "\(source): unknown setting \"http.\(member)\"")
                    }
                }
            case "private":
                for (namespace, ops) in try reader.object(value, key).members {
                    guard case .array(let list) = ops else {
                        throw CacheError(.invalidRequest, "\(source): private.\(namespace) must be a list of operations")
                    }
                    config.privateOperations[namespace] = Set(list.compactMap(\.stringValue))
                }
            default:
                throw CacheError(.invalidRequest, "\(source): unknown setting \"\(key)\"")
            }
        }
        // Per operation; where both name one, the namespace's own section wins.
        func merged(_ setting: String) -> [String: [String: Int]] {
            (sections[setting] ?? [:]).merging(namespaceSections[setting] ?? [:]) { section, own in section.merging(own) { _, specific in specific } }
        }
        config.ttlOverrides = merged("ttl")
        config.sampleOverrides = merged("samples")
        return config
    }

    /// The limits of a namespace's upstream calls.
    public func limits(for namespace: String) -> UpstreamLimits {
        limits[namespace] ?? UpstreamLimits.defaults(for: namespace)
    }

    /// Whether the config marks this operation private (passed through uncached).
    public func isPrivate(namespace: String, op: String) -> Bool {
        guard let ops = privateOperations[namespace] else { return false }
        return ops.contains(op) || ops.contains("*")
    }
}

/// Typed access to config values with errors that name the setting.
private struct ConfigReader {
    let source: String

    func fail(_ key: String, _ what: String) -> CacheError {
        CacheError(.invalidRequest, "\(source): \(key) must be \(what)")
    }
    func bool(_ value: JSON, _ key: String) throws -> Bool {
        guard let b = value.boolValue else { throw fail(key, "true or false") }
        return b
    }
    func object(_ value: JSON, _ key: String) throws -> JSONObject {
        guard let o = value.objectValue else { throw fail(key, "an object") }
        return o
    }
    func positiveNumber(_ value: JSON, _ key: String) throws -> Double {
        guard let d = value.doubleValue, d > 0 else { throw fail(key, "a positive number") }
        return d
    }
    func positiveInt(_ value: JSON, _ key: String) throws -> Int {
        guard let i = value.intValue, i > 0 else { throw fail(key, "a positive integer") }
        return i
    }
    /// A list of strings, each one lower-cased and `valid`; the error names the first that is not.
    func strings(_ value: JSON, _ key: String, _ what: String, valid: (String) -> Bool) throws -> Set<String> {
        guard case .array(let list) = value else { throw fail(key, what) }
        return Set(try list.enumerated().map { index, item in
            guard let text = item.stringValue?.lowercased(), valid(text) else { throw fail("\(key)[\(index)]", what) }
            return text
        })
    }
    func nonNegativeInt(_ value: JSON, _ key: String) throws -> Int {
        guard let i = value.intValue, i >= 0 else { throw fail(key, "a non-negative integer") }
        return i
    }
    /// One namespace's values of a setting per operation (`ttl`: seconds; `samples`: 1 to 64), by operation.
    func perOperation(_ setting: String, _ value: JSON, path: String) throws -> [String: Int] {
        let read: (JSON, String) throws -> Int
        if setting == "samples" { read = sampleCount } else { read = nonNegativeInt }
        var values: [String: Int] = [:]
        for (op, number) in try object(value, path).members { values[op] = try read(number, "\(path).\(op)") }
        return values
    }
    func sampleCount(_ value: JSON, _ key: String) throws -> Int {
        guard let n = value.intValue, (1...QueryControl.maximumSamples).contains(n) else {
            throw fail(key, "an integer from 1 to \(QueryControl.maximumSamples)")
        }
        return n
    }
}

/// What the HTTP front passes through under a namespace (`namespaces.NS.pass_through`).
public enum PassThroughPolicy: String, Sendable {
    /// The default: with the configured credential only for GET and HEAD; any
    /// method with the caller's own credential header.
    case configuredForReads = "default"
    /// Every method, with the configured credential when the caller sends none.
    case all
    /// No pass-through: only the namespace's operations.
    case none
}
