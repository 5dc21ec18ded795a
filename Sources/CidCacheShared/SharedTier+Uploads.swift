import CidCacheCore
import Foundation
import NIOCore
import Synchronization

extension SharedTier {
    /// Queues an answer for upload; false when this machine is read-only, the
    /// answer expires too soon to be worth sharing, or the queue is full or the
    /// breaker open (dropped, counted). Never waits.
    @discardableResult
    public func publish(_ upload: SharedUpload) -> Bool {
        guard writes, upload.expires - Int(Date().timeIntervalSince1970) >= Self.shortestSharedLifetime else { return false }
        guard breaker.withLock({ $0.isClosed }), uploads.offer({ await self.upload(upload) }) else {
            counters.uploadDropped.add(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Uploads in flight at once, from the queue and from `cidcache push` alike.
    public static let uploadConcurrency = 4

    /// Seconds an answer must still have to live to be uploaded.
    static let shortestSharedLifetime = 5

    /// Uploads now, waiting for the result (for `cidcache push`); true when the record is in the bucket.
    public func uploadNow(_ upload: SharedUpload) async -> Bool {
        guard writes else { return false }
        return await self.upload(upload)
    }

    /// The body, then the record: the record is the commit point. A record
    /// already there is kept when it serves (another machine won), else replaced.
    @discardableResult
    func upload(_ upload: SharedUpload) async -> Bool {
        guard let signingKey else { return false }
        let deadline = NIODeadline.now() + .milliseconds(Int64(config.uploadTimeoutMilliseconds))
        let place = upload.place
        do {
            let blob = try place.sealingKey.map { key throws(CacheError) in try SharedSealing.seal(upload.body, key: key) } ?? upload.body
            _ = try await bucket.put(layout.blobKey(upload.contentCID, scope: place.scope), blob, condition: .absent, deadline: deadline)
            let signed = SharedRecord(upstream: place.upstream, scope: place.scope, requestCID: upload.requestCID,
                                      contentCID: upload.contentCID, size: upload.body.count, created: upload.created,
                                      expires: upload.expires, tokens: upload.tokens, costUSD: upload.costUSD,
                                      contentType: upload.contentType).signed(with: signingKey)
            let record = try place.sealingKey.map { key throws(CacheError) in
                try SharedSealing.sealRecord(signed, key: key, scope: place.scope, requestCID: upload.requestCID)
            } ?? signed
            let key = layout.recordKey(scope: place.scope, request: upload.requestCID)
            if try await !bucket.put(key, record, condition: .absent, deadline: deadline),
               let existing = try await bucket.get(key, limit: 64 * 1024, deadline: deadline), let etag = existing.etag,
               (try? verify(existing.bytes, place: place, requestCID: upload.requestCID)) == nil {
                // Expired, disowned or not trusted here: ours takes its place, unless another write came first.
                _ = try await bucket.put(key, record, condition: .matching(etag), deadline: deadline)
            }
            counters.uploads.add(1, ordering: .relaxed)
            breakerResult(failed: false)
            return true
        } catch {
            counters.uploadErrors.add(1, ordering: .relaxed)
            if let failure = error as? BucketError, failure.status.map({ $0 >= 500 }) ?? true { breakerResult(failed: true) }
            return false
        }
    }
}

/// A bounded queue of uploads run a few at a time in the background; offers
/// past the limit are refused, never waited for.
final class UploadQueue: Sendable {
    typealias Job = @Sendable () async -> Void
    private let continuation: AsyncStream<Job>.Continuation
    private let worker: Task<Void, Never>
    /// Uploads in flight at once.
    static var concurrency: Int { SharedTier.uploadConcurrency }

    init(limit: Int) {
        let (stream, continuation) = AsyncStream<Job>.makeStream(bufferingPolicy: .bufferingOldest(limit))
        self.continuation = continuation
        worker = Task {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await job in stream {
                    if running == Self.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await job() }
                    running += 1
                }
            }
        }
    }

    /// Queues `job`; false when the queue is full or closed.
    func offer(_ job: @escaping Job) -> Bool {
        if case .enqueued = continuation.yield(job) { return true }
        return false
    }

    /// Takes no more jobs and waits for those running (each is bounded in time); queued ones are dropped.
    func close() async {
        continuation.finish()
        worker.cancel()
        await worker.value
    }
}
