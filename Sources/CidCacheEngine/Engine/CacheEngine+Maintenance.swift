public import CidCacheCore
import CidCacheShared
import CidCacheStore
import CidCacheUpstreams
import Foundation
import Synchronization

/// Flushes, eviction, shutdown, and the `errors` and `log` files.
extension CacheEngine {
    /// Writes batched hit counts and statistics to the store. What fails to
    /// be written is kept for the next flush, with an `errors` line.
    public func flush() {
        let accesses = pendingAccesses.drain().map { (id: $0.key, hits: $0.value.hits, lastAccess: $0.value.lastAccess) }
        do {
            try store.recordAccesses(accesses)
        } catch {
            for access in accesses {
                pendingAccesses.update(access.id) { $0 = (($0?.hits ?? 0) + access.hits, max($0?.lastAccess ?? 0, access.lastAccess)) }
            }
            _ = indexFailure(error)
        }
        evictIfOverBudget()
        for (key, counters) in [("stats", statistics), ("caller_stats", callerStatistics)] {
            guard let snapshot = counters.takeDirtySnapshot() else { continue }
            do {
                try store.saveState(key, snapshot)
            } catch {
                counters.markDirty()
                _ = indexFailure(error)
            }
        }
    }

    /// Past the disk budget, evicts least recently used entries and the bytes
    /// no entry needs any more, counting evictions per namespace.
    func evictIfOverBudget() {
        guard storedBytes.withLock({ $0 }) > config.diskBudgetBytes else { return }
        do {
            try store.evict(toFit: config.diskBudgetBytes) { evicted in
                notifyRemoved(evicted)
                for entry in evicted { statistics.update(entry.namespace) { $0.evictions += 1 } }
            }
            let measured = try store.blobStats().bytes
            storedBytes.withLock { $0 = measured }
        } catch {
            _ = indexFailure(error)
        }
    }

    /// Flushes once a second until cancelled, then once more.
    public func runMaintenance() async {
        while !Task.isCancelled {
            try? await Deadline.sleep(until: Deadline.after(seconds: 1))
            flush()
        }
        flush()
    }

    /// Flushes, makes the queued shared uploads (within
    /// `SharedTier.drainMilliseconds`; those left get an `errors` line) and
    /// stops the HTTP clients.
    public func shutdown() async {
        flush()
        if let left = await shared?.shutdown(), left > 0 {
            log.recordError(namespace: nil, op: nil, requestCID: nil, error: CacheError(.timedOut,
                "shared: \(left) upload(s) not made within \(SharedTier.drainMilliseconds) ms of the stop; `cidcache push` publishes them"),
                pid: getpid())
        }
        await upstream.client.shutdown()
    }

    /// Appends a failure to `errors` (docs/REFERENCE.md §11), for a front's own refusals (a malformed `ctl` line, a write past the limit).
    public func recordError(namespace: String?, op: String?, requestCID: String?, error: CacheError, pid: Int32) {
        log.recordError(namespace: namespace, op: op, requestCID: requestCID, error: error, pid: pid)
    }
}
