public import CidCacheCore
import CidCacheEngine

/// The HTTP front's caller keys on disk (`http.keys_file`, mode 0600): each
/// key's name and the SHA-256 of the key, never the key itself, as
/// `{"keys": [{"name": ..., "sha256": <hex>, "created": <Unix seconds>}]}`.
/// `cidcache key new` writes it; the front reads it (`CallerKeys`).
public struct CallerKeyFile: Sendable, Equatable {
    /// One caller: its name and its key's digest.
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// Lowercase hex of the key's SHA-256.
        public let digest: String
        public let created: Int64
    }

    public private(set) var entries: [Entry] = []

    /// What every key starts with, so a leaked one is recognisable and no
    /// upstream's own key (`sk-`, `sk-ant-`, `hf_`) is ever taken for one.
    public static let keyPrefix = "cidcache-key-"

    public init() {}

    /// Parses the file's bytes; EINVAL naming `path` and the member for anything malformed.
    public init(parsing bytes: [UInt8], path: String) throws(CacheError) {
        let malformed = { (why: String) in CacheError(.invalidRequest, "\(path): \(why)") }
        let root: JSON
        do { root = try CanonicalJSON.parse(bytes) } catch { throw malformed("not JSON: \(CacheError(wrapping: error).message)") }
        guard case .array(let list)? = root.objectValue?["keys"] else { throw malformed("must be {\"keys\": [...]}") }
        for item in list {
            guard let object = item.objectValue, let name = object["name"]?.stringValue,
                  let digest = object["sha256"]?.stringValue, Hex.decode(digest)?.count == SHA256.digestLength,
                  let created = object["created"]?.intValue else {
                throw malformed("each key needs a name, a sha256 (64 hex digits) and created")
            }
            guard entries.allSatisfy({ $0.name != name }) else { throw malformed("the name \"\(name)\" appears twice") }
            entries.append(Entry(name: name, digest: digest.lowercased(), created: Int64(created)))
        }
    }

    /// The file at `path`; empty when there is none.
    public static func load(_ path: String) throws(CacheError) -> CallerKeyFile {
        try readWholeFile(path).map { bytes throws(CacheError) in try CallerKeyFile(parsing: bytes, path: path) } ?? CallerKeyFile()
    }

    /// The file's bytes (JCS, one line).
    public var serialized: [UInt8] {
        let keys = entries.map { entry in
            JSON.object(JSONObject([(key: "name", value: .string(entry.name)), (key: "sha256", value: .string(entry.digest)),
                                    (key: "created", value: .number(Double(entry.created)))]))
        }
        return CanonicalJSON.serialize(["keys": .array(keys)]) + [0x0A]
    }

    /// Adds a caller with a new random key, which it returns (the only time it
    /// exists outside the caller's hands). EINVAL for a malformed or taken name.
    public mutating func add(name: String, now: Int64) throws(CacheError) -> String {
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }) else {
            throw CacheError(.invalidRequest, "a caller's name is 1 to 64 letters, digits, '.', '_' or '-': \"\(name)\"")
        }
        guard entries.allSatisfy({ $0.name != name }) else {
            throw CacheError(.invalidRequest, "a key named \"\(name)\" exists already (cidcache key remove \(name) first)")
        }
        let key = Self.keyPrefix + Base32.encode(SecureRandom.bytes(32))
        entries.append(Entry(name: name, digest: Self.digest(of: key), created: now))
        return key
    }

    /// Removes a caller; false when there was none of that name.
    public mutating func remove(name: String) -> Bool {
        let before = entries.count
        entries.removeAll { $0.name == name }
        return entries.count != before
    }

    /// The hex SHA-256 a key is known by.
    public static func digest(of key: String) -> String {
        Hex.encode(SHA256.hash(Array(key.utf8)))
    }

    /// Writes `self` to `path` (mode 0600), replacing what was there at once.
    public func write(to path: String) throws(CacheError) {
        try SecretFile.replace(path, serialized)
    }
}
