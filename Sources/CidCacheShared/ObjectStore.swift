public import NIOCore

/// Where the shared tier keeps its objects: whole objects by key, read with a
/// size bound and written on a condition. The tier's records, signatures,
/// sealing, scopes and CID checks sit above it, the same for every store:
/// an S3-compatible bucket (`S3ObjectStore`) or a directory on a filesystem
/// every machine mounts (`DirectoryObjectStore`). Nothing here waits past the
/// deadline it is given.
public protocol ObjectStore: Sendable {
    /// The object at `key`, of at most `limit` bytes; `.notFound` when there is none.
    func get(_ key: String, limit: Int, direction: ObjectStoreDirection,
             deadline: NIODeadline) async throws(ObjectStoreError) -> StoredObject

    /// Writes `bytes` at `key` if `condition` holds; `.conditionFailed` when it did not.
    func put(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
             deadline: NIODeadline) async throws(ObjectStoreError)

    /// Lets go of the store's connections or threads; call once, at the stop.
    func shutdown() async
}

/// An object as a store holds it.
public struct StoredObject: Sendable, Equatable {
    public var bytes: [UInt8]
    /// What a later `.matching` write names to replace exactly this object; nil when the store gave none.
    public var etag: String?

    public init(bytes: [UInt8], etag: String?) {
        self.bytes = bytes
        self.etag = etag
    }
}

/// What a conditional write may overwrite.
public enum WriteCondition: Sendable, Equatable {
    /// Only where no object is.
    case absent
    /// Only the object of this ETag.
    case matching(String)
}

/// Which way a call goes. Each way has its own connections (or threads), so
/// a lookup never waits behind an upload.
public enum ObjectStoreDirection: Sendable {
    /// Lookups, bounded by `timeout_ms`.
    case read
    /// Uploads (and the reads an upload makes), bounded by `upload_timeout_ms`.
    case write
}

/// Why a store call did not do what was asked.
public enum ObjectStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A conditional write's condition did not hold: an object was there
    /// (`.absent`), or another object than the one named (`.matching`).
    case conditionFailed
    /// No object at the key.
    case notFound
    /// The object is larger than the caller takes: the store works, the object is wrong.
    case tooLarge(String)
    /// No answer in time, no connection, or a failure on the store's side
    /// (a 5xx, an I/O error): worth leaving the store alone for a while.
    case unavailable(String)
    /// The store answered and would not (no permission, a read-only
    /// filesystem, no such bucket): asking again soon would not help, nor hurt.
    case refused(String)

    public var description: String {
        switch self {
        case .conditionFailed: return "the write's condition did not hold"
        case .notFound: return "no such object"
        case .tooLarge(let why), .unavailable(let why), .refused(let why): return why
        }
    }
}
