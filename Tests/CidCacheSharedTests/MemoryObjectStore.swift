import CidCacheCore
@testable import CidCacheShared
import Foundation
import NIOCore
import Synchronization

/// An object store in memory, for the tier's tests: conditional writes with
/// ETags as a bucket's, failures on demand, and a look at every call.
final class MemoryObjectStore: ObjectStore {
    private struct State {
        var objects: [String: StoredObject] = [:]
        var version = 0
        var failingReads: ObjectStoreError?
        var failingWrites: ObjectStoreError?
        var calls: [String] = []
    }

    private let state = Mutex(State())
    /// Runs once, after the next read and before its caller goes on: another
    /// machine's write in between, or a look at the caller mid-call.
    let onNextGet = Mutex<(@Sendable () -> Void)?>(nil)

    func get(_ key: String, limit: Int, direction: ObjectStoreDirection,
             deadline: NIODeadline) async throws(ObjectStoreError) -> StoredObject {
        let found = state.withLock { state -> Result<StoredObject, ObjectStoreError> in
            state.calls.append("get \(key)")
            if let failure = state.failingReads { return .failure(failure) }
            guard let object = state.objects[key] else { return .failure(.notFound) }
            return object.bytes.count > limit ? .failure(.tooLarge("\(key): over \(limit)")) : .success(object)
        }
        onNextGet.withLock { hook in defer { hook = nil }; return hook }?()
        return try found.get()
    }

    func put(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
             deadline: NIODeadline) async throws(ObjectStoreError) {
        try state.withLock { state throws(ObjectStoreError) in
            state.calls.append("put \(key) \(condition)")
            if let failure = state.failingWrites { throw failure }
            switch condition {
            case .absent where state.objects[key] != nil: throw .conditionFailed
            case .matching(let etag) where state.objects[key]?.etag != etag: throw .conditionFailed
            default: break
            }
            state.version += 1
            state.objects[key] = StoredObject(bytes: bytes, etag: "\"\(state.version)\"")
        }
    }

    func shutdown() async {}

    /// The object at `key`; setting it writes unconditionally (a tamperer), nil deletes.
    subscript(key: String) -> [UInt8]? {
        get { state.withLock { $0.objects[key]?.bytes } }
        set {
            state.withLock { state in
                state.version += 1
                state.objects[key] = newValue.map { StoredObject(bytes: $0, etag: "\"\(state.version)\"") }
            }
        }
    }

    var keys: [String] { state.withLock { $0.objects.keys.sorted() } }
    /// Every call so far, `get KEY` or `put KEY CONDITION`.
    var calls: [String] { state.withLock { $0.calls } }

    /// Makes every read, or every write, fail with `error` (nil: heals).
    func failReads(_ error: ObjectStoreError?) { state.withLock { $0.failingReads = error } }
    func failWrites(_ error: ObjectStoreError?) { state.withLock { $0.failingWrites = error } }
}

/// What the in-process tier tests share: a team key, tiers over one store,
/// and answers to upload.
enum TierFixture {
    static let teamKey = try! Ed25519PrivateKey(seed: [UInt8](repeating: 0x11, count: 32))
    /// A key nobody trusts (an obviously fake seed).
    static let untrustedKey = try! Ed25519PrivateKey(seed: [UInt8](repeating: 0x42, count: 32))
    static let upstream = "0123456789abcdef"
    static let publicPlace = SharedPlace(upstream: upstream, credential: nil)!
    static func credentialPlace(_ credential: String = "sk-test-not-a-real-key-0001") -> SharedPlace {
        SharedPlace(upstream: upstream, credential: credential)!
    }

    /// The `shared` section trusting the team key, with `extra` members (JSON, without braces).
    static func config(_ extra: String = "") -> SharedTierConfig {
        let text = #"{"url": "file:///unused", "trusted_keys": [""# + teamKey.publicKey.text + #""]"#
            + (extra.isEmpty ? "" : ", " + extra) + "}"
        return try! SharedTierConfig(parsing: CanonicalJSON.parse(Array(text.utf8)).objectValue!, source: "test.json")
    }

    /// A tier over `store`, writing with the team key when `writes`.
    static func tier(_ store: any ObjectStore, writes: Bool = true, _ extra: String = "") -> SharedTier {
        SharedTier(config: config(extra), store: store, signingKey: writes ? teamKey : nil, maximumBodyBytes: 1 << 20)
    }

    static func request(_ text: String) -> CID {
        CID.forKeyDocument(Array(#"{"prompt":""#.utf8) + Array(text.utf8) + Array(#""}"#.utf8))
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    /// An answer to `text` to upload, created `created` (default now), living an hour.
    static func upload(_ text: String, body: String = "the answer", place: SharedPlace = publicPlace,
                       created: Int? = nil) -> SharedUpload {
        let bytes = Array(body.utf8)
        return SharedUpload(place: place, requestCID: request(text), body: bytes, contentCID: CID.forContent(bytes),
                            created: created ?? now, expires: now + 3600, tokens: 7, costUSD: 0.5,
                            contentType: "application/json")
    }

    static func recordKey(_ upload: SharedUpload) -> String {
        SharedLayout(prefix: "cidcache").recordKey(scope: upload.place.scope, request: upload.requestCID)
    }

    static func blobKey(_ upload: SharedUpload) -> String {
        SharedLayout(prefix: "cidcache").blobKey(upload.contentCID, scope: upload.place.scope)
    }
}
