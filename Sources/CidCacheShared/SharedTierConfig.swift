public import CidCacheCore
public import CidCacheUpstreams
import Foundation

/// The config's `shared` section: where the objects are, which keys sign and
/// are trusted, and the tier's bounds. Secrets are not in it: the signing key
/// is a file's path, a bucket's credentials come from the environment.
public struct SharedTierConfig: Sendable, Equatable {
    public var storage: SharedStorage
    public var prefix = "cidcache"
    /// The private key file that signs this machine's records; nil: read-only.
    public var signingKeyPath: String?
    public var trustedKeys: [Ed25519PublicKey] = []
    /// Records created before this Unix time are refused.
    public var notBefore = 0
    /// The most a query waits on the shared tier.
    public var timeoutMilliseconds = 500
    /// False: read-only, even with a signing key.
    public var upload = true
    /// The most one upload (body and record) may take.
    public var uploadTimeoutMilliseconds = 10_000
    /// Uploads waiting at most; more are dropped, counted.
    public var uploadQueueLimit = 256
    /// Consecutive failures that open the breaker.
    public var breakerFailures = 3
    /// How long a breaker first stays open; doubles while probes fail, up to
    /// `breakerBackoffFactor` times this (short: a healed bucket is used again within seconds).
    public var breakerOpenMilliseconds = 1_000
    /// How far failed probes stretch a breaker's open time.
    public static let breakerBackoffFactor: UInt64 = 4

    static let knownKeys = ["url", "bucket", "prefix", "region", "signing_key", "trusted_keys", "not_before", "timeout_ms",
                            "upload", "upload_timeout_ms", "upload_queue", "breaker_failures", "breaker_open_ms"]

    /// The section as the config file holds it; errors name the member.
    public init(parsing object: JSONObject, source: String) throws(CacheError) {
        func fail(_ key: String, _ what: String) -> CacheError {
            CacheError(.invalidRequest, "\(source): shared.\(key) must be \(what)")
        }
        func string(_ key: String) throws(CacheError) -> String? {
            guard let value = object[key] else { return nil }
            guard let text = value.stringValue, !text.isEmpty else { throw fail(key, "a non-empty string") }
            return text
        }
        func integer(_ key: String, minimum: Int) throws(CacheError) -> Int? {
            guard let value = object[key] else { return nil }
            guard let n = value.intValue, n >= minimum else { throw fail(key, "an integer of at least \(minimum)") }
            return n
        }
        for key in object.keys where !Self.knownKeys.contains(key) {
            throw CacheError(.invalidRequest, "\(source): unknown setting \"shared.\(key)\" (known: \(Self.knownKeys.joined(separator: ", ")))")
        }
        guard let url = try string("url") else {
            throw fail("url", "the bucket's S3 endpoint, http(s)://host[:port], or a directory, file:///path")
        }
        if let value = object["prefix"] {
            guard let text = value.stringValue else { throw fail("prefix", "a string") }
            prefix = text
        }
        if url.lowercased().hasPrefix("file:") {
            for key in ["bucket", "region"] where object[key] != nil {
                throw CacheError(.invalidRequest, "\(source): shared.\(key) is only for an S3 url, not a file:// directory")
            }
            guard let path = SharedStorage.directoryPath(fileURL: url) else {
                throw fail("url", "file:///path, an absolute path on this machine")
            }
            guard SharedStorage.isPlainRelativePath(prefix) else {
                throw fail("prefix", "a path inside the directory, without \".\" or \"..\" parts")
            }
            storage = .directory(path: path)
        } else {
            guard let bucket = try string("bucket") else { throw fail("bucket", "the bucket's name") }
            storage = .bucket(url: url, bucket: bucket, region: try string("region") ?? "us-east-1")
        }
        signingKeyPath = try string("signing_key")
        if let value = object["trusted_keys"] {
            guard case .array(let list) = value else { throw fail("trusted_keys", "a list of \"ed25519:<base64>\" lines") }
            trustedKeys = try list.map { item throws(CacheError) in
                guard let text = item.stringValue, let key = try? Ed25519PublicKey(text: text) else {
                    throw fail("trusted_keys", "a list of \"ed25519:<base64>\" lines, as `cidcache keygen` prints them")
                }
                return key
            }
        }
        notBefore = try integer("not_before", minimum: 0) ?? notBefore
        timeoutMilliseconds = try integer("timeout_ms", minimum: 1) ?? timeoutMilliseconds
        if let value = object["upload"] {
            guard let flag = value.boolValue else { throw fail("upload", "true or false") }
            upload = flag
        }
        uploadTimeoutMilliseconds = try integer("upload_timeout_ms", minimum: 1) ?? uploadTimeoutMilliseconds
        uploadQueueLimit = try integer("upload_queue", minimum: 1) ?? uploadQueueLimit
        breakerFailures = try integer("breaker_failures", minimum: 1) ?? breakerFailures
        breakerOpenMilliseconds = try integer("breaker_open_ms", minimum: 1) ?? breakerOpenMilliseconds
    }

    /// The store `storage` names, with `environment`'s credentials for a
    /// bucket. Neither asks the store anything: a machine starts whether or not it answers.
    public func openStore(environment: [String: String]) throws(CacheError) -> any ObjectStore {
        switch storage {
        case .bucket(let url, let bucket, let region):
            return try S3ObjectStore(location: BucketLocation(url: url, bucket: bucket, region: region,
                                                              credentials: Self.credentials(environment: environment)),
                                     readTimeoutMilliseconds: timeoutMilliseconds,
                                     writeTimeoutMilliseconds: uploadTimeoutMilliseconds)
        case .directory(let path):
            return DirectoryObjectStore(root: path)
        }
    }

    /// A bucket's credentials: `CIDCACHE_SHARED_ACCESS_KEY_ID` and
    /// `CIDCACHE_SHARED_SECRET_ACCESS_KEY` (and `..._SESSION_TOKEN`), else the
    /// AWS variables; nil (unsigned requests) when neither pair is set.
    public static func credentials(environment: [String: String]) -> AWSCredentials? {
        for prefix in ["CIDCACHE_SHARED_", "AWS_"] {
            let value = { (name: String) in environment[prefix + name].flatMap { $0.isEmpty ? nil : $0 } }
            if let id = value("ACCESS_KEY_ID"), let secret = value("SECRET_ACCESS_KEY") {
                return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: value("SESSION_TOKEN"))
            }
        }
        return nil
    }
}

/// Where the shared tier's objects are.
public enum SharedStorage: Sendable, Equatable {
    /// An S3-compatible bucket: the endpoint's origin (path-style), the bucket, its region.
    case bucket(url: String, bucket: String, region: String)
    /// A directory every machine mounts (`file:///path`), holding the bucket's keys as paths.
    case directory(path: String)

    /// The absolute path of a `file:///path` (or `file://localhost/path`) url; nil for any other.
    static func directoryPath(fileURL url: String) -> String? {
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "file",
              [nil, "", "localhost"].contains(parsed.host), parsed.query == nil, parsed.fragment == nil else { return nil }
        let path = parsed.path
        guard path.hasPrefix("/"), !path.contains("\0") else { return nil }
        return path
    }

    /// Whether `path` stays inside the directory it is taken under: no `.` or `..` part.
    static func isPlainRelativePath(_ path: String) -> Bool {
        !path.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }
}
