import CidCacheCore
import CidCacheUpstreams
import Foundation
import NIOCore
import Synchronization

extension SharedTier {
    /// Queues an answer for upload; false when this machine is read-only, the
    /// answer expires too soon to be worth sharing, or the queue is full or the
    /// uploads' breaker open (dropped, counted). Never waits. The upload must
    /// be done within `upload_timeout_ms` of now, its wait in the queue included.
    @discardableResult
    public func publish(_ upload: SharedUpload) -> Bool {
        guard writes, upload.expires - Int(Date().timeIntervalSince1970) >= Self.shortestSharedLifetime else { return false }
        let deadline = uploadDeadline()
        guard writeBreaker.permit(), uploads.offer({ await self.upload(upload, deadline: deadline) }) else {
            counters.uploadDropped.add(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Uploads in flight at once, from the queue and from `cidcache push` alike.
    public static let uploadConcurrency = 4

    /// Seconds an answer must still have to live to be uploaded.
    static let shortestSharedLifetime = 5

    /// Times a record's commit reads the record in its place and tries again
    /// after another machine's write came in between.
    static let commitAttempts = 3

    /// Uploads now, waiting for the result (for `cidcache push`); true when the record is in the bucket.
    public func uploadNow(_ upload: SharedUpload) async -> Bool {
        guard writes else { return false }
        return await self.upload(upload, deadline: uploadDeadline())
    }

    private func uploadDeadline() -> NIODeadline {
        .now() + .milliseconds(Int64(config.uploadTimeoutMilliseconds))
    }

    /// The body, then the record: the record is the commit point. An upload
    /// whose deadline passed while it waited is dropped; one cut short by a
    /// stop is left for the stop to count.
    @discardableResult
    func upload(_ upload: SharedUpload, deadline: NIODeadline) async -> Bool {
        guard let signingKey else { return false }
        guard !Task.isCancelled else { return false }
        guard NIODeadline.now() < deadline else {
            counters.uploadDropped.add(1, ordering: .relaxed)
            return false
        }
        let place = upload.place
        do {
            let blob = try place.sealingKey.map { key throws(CacheError) in try SharedSealing.seal(upload.body, key: key) } ?? upload.body
            // False when it is already there: a body's key is its content.
            _ = try await put(layout.blobKey(upload.contentCID, scope: place.scope), blob, condition: .absent, deadline: deadline)
            let signed = SharedRecord(upstream: place.upstream, scope: place.scope, requestCID: upload.requestCID,
                                      contentCID: upload.contentCID, size: upload.body.count, created: upload.created,
                                      expires: upload.expires, tokens: upload.tokens, costUSD: upload.costUSD,
                                      contentType: upload.contentType, sample: upload.sample).signed(with: signingKey)
            let record = try place.sealingKey.map { key throws(CacheError) in
                try SharedSealing.sealRecord(signed, key: key, scope: place.scope, requestCID: upload.requestCID, sample: upload.sample)
            } ?? signed
            try await commit(record, of: upload, deadline: deadline)
            counters.uploads.add(1, ordering: .relaxed)
            writeBreaker.record(failed: false)
            return true
        } catch {
            guard !Task.isCancelled else { return false }
            counters.uploadErrors.add(1, ordering: .relaxed)
            if case .unavailable? = error as? ObjectStoreError { writeBreaker.record(failed: true) }
            return false
        }
    }

    /// Puts the record in its place unless the record there serves and is at
    /// least as new: the newer `created` wins (a refresh replaces a live
    /// record), an older one never replaces a newer one. The replacement is
    /// conditional on the ETag read; a write in between means reading again.
    private func commit(_ record: [UInt8], of upload: SharedUpload, deadline: NIODeadline) async throws(ObjectStoreError) {
        let key = layout.recordKey(scope: upload.place.scope, request: upload.requestCID, sample: upload.sample)
        var condition = WriteCondition.absent
        for _ in 0..<Self.commitAttempts {
            if try await put(key, record, condition: condition, deadline: deadline) { return }
            guard let standing = try await read(key, deadline: deadline) else {
                condition = .absent  // deleted in between
                continue
            }
            let serving = try? verify(standing.bytes, place: upload.place, requestCID: upload.requestCID, sample: upload.sample)
            guard Self.replaces(created: upload.created, standing: serving?.created), let etag = standing.etag else { return }
            condition = .matching(etag)
        }
    }

    /// Writes `bytes` at `key` if `condition` holds; false when it did not.
    private func put(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
                     deadline: NIODeadline) async throws(ObjectStoreError) -> Bool {
        do throws(ObjectStoreError) {
            try await store.put(key, bytes, condition: condition, deadline: deadline)
            return true
        } catch {
            guard case .conditionFailed = error else { throw error }
            return false
        }
    }

    /// The record at `key`, read for an upload; nil when there is none.
    private func read(_ key: String, deadline: NIODeadline) async throws(ObjectStoreError) -> StoredObject? {
        do throws(ObjectStoreError) {
            return try await store.get(key, limit: 64 * 1024, direction: .write, deadline: deadline)
        } catch {
            guard case .notFound = error else { throw error }
            return nil
        }
    }

    /// Whether a record created at `created` takes the place of the one
    /// standing there, created at `standing` (nil: it does not serve here:
    /// expired, before `not_before`, signed by a key not trusted here).
    static func replaces(created: Int, standing: Int?) -> Bool {
        guard let standing else { return true }
        return created > standing
    }
}

/// A bounded queue of uploads run a few at a time in the background; offers
/// past the limit are refused, never waited for.
final class UploadQueue: Sendable {
    typealias Job = @Sendable () async -> Void
    private let continuation: AsyncStream<Job>.Continuation
    private let worker: Task<Void, Never>
    /// Jobs offered and not yet finished (a job cancelled by a stop never finishes).
    private let unfinished: Tally
    /// Uploads in flight at once.
    static var concurrency: Int { SharedTier.uploadConcurrency }

    /// A count shared with the worker's tasks.
    private final class Tally: Sendable {
        let count = Atomic<Int>(0)
    }

    init(limit: Int) {
        let (stream, continuation) = AsyncStream<Job>.makeStream(bufferingPolicy: .bufferingOldest(limit))
        let unfinished = Tally()
        self.continuation = continuation
        self.unfinished = unfinished
        worker = Task {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await job in stream {
                    if running == Self.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask {
                        await job()
                        if !Task.isCancelled { unfinished.count.subtract(1, ordering: .relaxed) }
                    }
                    running += 1
                }
            }
        }
    }

    /// Queues `job`; false when the queue is full or closed.
    func offer(_ job: @escaping Job) -> Bool {
        unfinished.count.add(1, ordering: .relaxed)
        if case .enqueued = continuation.yield(job) { return true }
        unfinished.count.subtract(1, ordering: .relaxed)
        return false
    }

    /// Takes no more jobs and lets those queued and running go on for at most
    /// `drain`; then cancels the rest. How many jobs did not finish.
    func close(drainingFor drain: TimeAmount) async -> Int {
        continuation.finish()
        let worker = self.worker
        let stopper = Deadline.at(.now() + drain) { worker.cancel() }
        await worker.value
        stopper.cancel()
        return unfinished.count.load(ordering: .relaxed)
    }
}
