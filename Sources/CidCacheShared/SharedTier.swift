public import CidCacheCore
import CidCacheUpstreams
import Foundation
import NIOCore
import Synchronization

/// Where one namespace's entries go in the bucket, and how they are sealed.
public struct SharedPlace: Sendable {
    /// The upstream identity, the same on every machine.
    public let upstream: String
    public let scope: SharedScope
    /// Set for credential-scoped entries, whose records and bodies are sealed.
    let sealingKey: SymmetricKey?

    /// The place of `upstream`'s entries (a 16-digit hex identity) fetched with
    /// `credential` (nil: public); nil when `upstream` is not such an identity.
    public init?(upstream: String, credential: String?) {
        if let credential, !credential.isEmpty {
            scope = .forCredential(Array(credential.utf8), upstream: upstream)
            sealingKey = SharedSealingKey.forCredential(Array(credential.utf8), upstream: upstream)
        } else {
            guard let pub = SharedScope.public(upstream: upstream) else { return nil }
            scope = pub
            sealingKey = nil
        }
        self.upstream = upstream
    }
}

/// What the shared tier had for a request.
public enum SharedLookup: Sendable {
    /// A trusted, live record and its verified body.
    case hit(SharedRecord, body: [UInt8])
    /// No record, or no body behind it.
    case miss
    /// Something was there and was not trusted.
    case refused(SharedRefusal)
    /// The bucket failed or was too slow.
    case failed(String)
    /// The lookups' breaker is open: the bucket was not asked.
    case skipped
}

/// An answer to share: what `publish` uploads.
public struct SharedUpload: Sendable {
    public var place: SharedPlace
    public var requestCID: CID
    public var body: [UInt8]
    public var contentCID: CID
    public var created: Int
    public var expires: Int
    public var tokens: Int?
    public var costUSD: Double?
    /// The upstream's `Content-Type` for the answer, when known.
    public var contentType: String?
    /// Which sample of its request it is; 0 for every unsampled answer.
    public var sample: Int

    public init(place: SharedPlace, requestCID: CID, body: [UInt8], contentCID: CID, created: Int, expires: Int,
                tokens: Int?, costUSD: Double?, contentType: String? = nil, sample: Int = 0) {
        self.place = place
        self.requestCID = requestCID
        self.body = body
        self.contentCID = contentCID
        self.created = created
        self.expires = expires
        self.tokens = tokens
        self.costUSD = costUSD
        self.contentType = contentType
        self.sample = sample
    }
}

/// The second tier, shared by every machine of a bucket or directory: looked
/// up after the local store and before the upstream, written after an upstream
/// answer. It trusts only records signed by `trusted_keys`, bodies whose CID
/// matches, and never waits past its bounds; a failing store is skipped by a
/// breaker, one for lookups and one for uploads, so failing writes never stop reads.
public final class SharedTier: Sendable {
    let config: SharedTierConfig
    let layout: SharedLayout
    let store: any ObjectStore
    let signingKey: Ed25519PrivateKey?
    let maximumBodyBytes: Int
    let readBreaker: Breaker
    let writeBreaker: Breaker
    let counters = SharedTierCounters()
    let uploads: UploadQueue

    /// - Parameters:
    ///   - store: where the objects are (`config.openStore`); the tier shuts it down at its stop.
    ///   - signingKey: signs uploads; nil, or `config.upload` false: read-only.
    ///   - maximumBodyBytes: the largest body taken from the store.
    public init(config: SharedTierConfig, store: any ObjectStore, signingKey: Ed25519PrivateKey?, maximumBodyBytes: Int) {
        self.config = config
        layout = SharedLayout(prefix: config.prefix)
        self.store = store
        self.signingKey = config.upload ? signingKey : nil
        self.maximumBodyBytes = maximumBodyBytes
        let open = UInt64(config.breakerOpenMilliseconds) * 1_000_000
        let breaker = CircuitBreaker(failureThreshold: config.breakerFailures, openInterval: open,
                                     maximumOpenInterval: open * SharedTierConfig.breakerBackoffFactor)
        readBreaker = Breaker(breaker)
        writeBreaker = Breaker(breaker)
        uploads = UploadQueue(limit: config.uploadQueueLimit)
    }

    /// Whether this machine writes to the store.
    public var writes: Bool { signingKey != nil }

    /// The counters and the breakers' states.
    public var statistics: SharedTierStatistics {
        counters.snapshot(readBreaker: readBreaker.stateName, writeBreaker: writeBreaker.stateName)
    }

    /// The record and body for `requestCID` (its sample `sample`) in `place`, within `timeout_ms`.
    public func lookup(_ place: SharedPlace, requestCID: CID, sample: Int = 0) async -> SharedLookup {
        guard readBreaker.permit() else { return .skipped }
        let deadline = NIODeadline.now() + .milliseconds(Int64(config.timeoutMilliseconds))
        let result: SharedLookup
        do {
            result = try await find(place, requestCID: requestCID, sample: sample, deadline: deadline)
            readBreaker.record(failed: false)
        } catch {
            switch error {
            case .store(let failure):
                readBreaker.record(failed: true)
                counters.errors.add(1, ordering: .relaxed)
                return .failed(failure.description)
            case .refused(let refusal):
                readBreaker.record(failed: false)
                counters.rejected.add(1, ordering: .relaxed)
                return .refused(refusal)
            }
        }
        if case .hit = result { counters.hits.add(1, ordering: .relaxed) } else { counters.misses.add(1, ordering: .relaxed) }
        return result
    }

    /// Why a lookup stopped short of a hit: the store failed, or what it held was not trusted.
    enum Stop: Error {
        case store(ObjectStoreError)
        case refused(SharedRefusal)
    }

    private func find(_ place: SharedPlace, requestCID: CID, sample: Int, deadline: NIODeadline) async throws(Stop) -> SharedLookup {
        let recordKey = layout.recordKey(scope: place.scope, request: requestCID, sample: sample)
        guard let stored = try await get(recordKey, limit: 64 * 1024, deadline: deadline) else { return .miss }
        let record = try verify(stored.bytes, place: place, requestCID: requestCID, sample: sample)
        guard record.size <= maximumBodyBytes else { throw .refused(.malformed("size over the response limit")) }
        let sealed = place.sealingKey != nil
        let blobKey = layout.blobKey(record.contentCID, scope: place.scope)
        guard let blob = try await get(blobKey, limit: record.size + (sealed ? AES256GCM.nonceLength + AES256GCM.tagLength : 0), deadline: deadline) else {
            return .miss  // a record whose body is gone (a lifecycle rule): fetched and shared again
        }
        do throws(SharedRefusal) {
            if let key = place.sealingKey {
                return .hit(record, body: try SharedSealing.open(blob.bytes, key: key, expectedContentCID: record.contentCID))
            }
            return .hit(record, body: try SharedSealing.checkPlain(blob.bytes, expectedContentCID: record.contentCID))
        } catch {
            throw .refused(error)
        }
    }

    /// The record in `bytes` (sealed or not), if it is trusted and live.
    func verify(_ bytes: [UInt8], place: SharedPlace, requestCID: CID, sample: Int) throws(Stop) -> SharedRecord {
        do throws(SharedRefusal) {
            var plain = bytes
            if let key = place.sealingKey {
                plain = try SharedSealing.openRecord(bytes, key: key, scope: place.scope, requestCID: requestCID, sample: sample)
            }
            return try SharedRecord.verify(plain, trustedKeys: config.trustedKeys, notBefore: config.notBefore, scope: place.scope,
                                           requestCID: requestCID, sample: sample, now: Int(Date().timeIntervalSince1970))
        } catch {
            throw .refused(error)
        }
    }

    private func get(_ key: String, limit: Int, deadline: NIODeadline) async throws(Stop) -> StoredObject? {
        do throws(ObjectStoreError) {
            return try await store.get(key, limit: limit, direction: .read, deadline: deadline)
        } catch {
            switch error {
            case .notFound: return nil
            case .tooLarge: throw .refused(.malformed("an object larger than its record allows"))
            default: throw .store(error)
            }
        }
    }

    /// Shuts the store down once the queued uploads are made or
    /// `drainMilliseconds` have passed; how many uploads were not made (they
    /// are counted in `shared_upload_dropped`).
    public func shutdown() async -> Int {
        let left = await uploads.close(drainingFor: .milliseconds(Int64(Self.drainMilliseconds)))
        counters.uploadDropped.add(left, ordering: .relaxed)
        await store.shutdown()
        return left
    }

    /// The most a stop waits for the queued uploads.
    public static let drainMilliseconds = 2_000
}

/// The shared tier's counters.
final class SharedTierCounters: Sendable {
    let hits = Atomic<Int>(0), misses = Atomic<Int>(0), rejected = Atomic<Int>(0), errors = Atomic<Int>(0)
    let uploads = Atomic<Int>(0), uploadErrors = Atomic<Int>(0), uploadDropped = Atomic<Int>(0)

    func snapshot(readBreaker: String, writeBreaker: String) -> SharedTierStatistics {
        SharedTierStatistics(hits: hits.load(ordering: .relaxed), misses: misses.load(ordering: .relaxed),
                             uploads: uploads.load(ordering: .relaxed), uploadErrors: uploadErrors.load(ordering: .relaxed),
                             uploadDropped: uploadDropped.load(ordering: .relaxed), rejected: rejected.load(ordering: .relaxed),
                             errors: errors.load(ordering: .relaxed), readBreaker: readBreaker, writeBreaker: writeBreaker)
    }
}

/// The shared tier's figures, as `stats/all.json` reports them (`shared_*`).
public struct SharedTierStatistics: Sendable, Equatable {
    public var hits, misses, uploads, uploadErrors, uploadDropped, rejected, errors: Int
    /// The lookups' and the uploads' breakers: `closed`, `open` or `half_open`.
    public var readBreaker, writeBreaker: String
}
