public import CidCacheCore
import CidCacheStore
import CidCacheUpstreams
import Foundation
import Glibc
import Synchronization

/// Entries: looked up (remembered in memory), counted, listed and removed.
extension CacheEngine {
    /// The live entry of a request (one sample of it) under the namespace's current upstream identity.
    func liveEntry(namespace: Namespace, requestCID: String, sample: Int = 0) throws -> EntryRecord? {
        if let cached = entries[EntryKey(upstream: namespace.upstream, requestCID: requestCID, sample: sample)] {
            return cached.expires > Self.now() ? cached : nil
        }
        let mark = entries.removalMark()
        guard let entry = try store.entry(requestCID: requestCID, upstream: namespace.upstream, sample: sample) else { return nil }
        entries.remember(entry, readAfter: mark)
        return entry.expires > Self.now() ? entry : nil
    }

    /// The live entry at `api/<namespace>/<op>/<requestCID>`, if any; EIO (logged) when the index fails.
    public func liveEntry(namespace name: String, op: String, requestCID: String) throws(CacheError) -> EntryRecord? {
        guard let namespace = namespaces[name] else { return nil }
        do {
            guard let entry = try liveEntry(namespace: namespace, requestCID: requestCID), entry.op == op else { return nil }
            return entry
        } catch {
            throw indexFailure(error, namespace: name, op: op, requestCID: requestCID)
        }
    }

    /// Logs a failure of the store met outside a query (a lookup, a listing,
    /// a removal): never "not cached", always EIO or what the store said.
    func indexFailure(_ error: any Error, namespace: String? = nil, op: String? = nil, requestCID: String? = nil) -> CacheError {
        let failure = CacheError(wrapping: error)
        recordError(namespace: namespace, op: op, requestCID: requestCID, error: failure, pid: getpid())
        return failure
    }

    /// An entry (one sample) that expired no longer ago than the stale window.
    func staleEntry(namespace: Namespace, requestCID: String, sample: Int) throws -> EntryRecord? {
        guard let entry = try store.entry(requestCID: requestCID, upstream: namespace.upstream, sample: sample),
              entry.expires > Self.now() - Int64(config.staleWindowSeconds) else { return nil }
        return entry
    }

    /// Counts an answer from a live entry: a query hit or an open of the entry's file.
    public func recordHit(_ entry: EntryRecord) {
        let called = namespaces[entry.namespace]?.family.operation(named: entry.op)?.callsUpstream ?? true
        let latency = called ? entry.fetchMs : 0, tokens = entry.tokens, cost = entry.costUSD, size = entry.size
        statistics.update(entry.namespace) {
            $0.hits += 1
            if !called { $0.localHits += 1 }
            $0.bytesServed += size
            $0.latencySavedMs += latency
            $0.tokensSaved += tokens
            $0.costSavedUSD += cost
        }
        let now = Self.now()
        pendingAccesses.update(entry.id) { $0 = (($0?.hits ?? 0) + 1, now) }
    }

    /// The hit count of an entry, including hits not yet written to the index.
    public func hits(of entry: EntryRecord) throws(CacheError) -> Int64 {
        do {
            let flushed = try store.entry(id: entry.id)?.hits ?? entry.hits
            return flushed + (pendingAccesses[entry.id]?.hits ?? 0)
        } catch {
            throw indexFailure(error, namespace: entry.namespace, op: entry.op, requestCID: entry.requestCID)
        }
    }

    /// A page of live entries of one operation, ordered by id, for directory listings.
    public func liveEntries(namespace name: String, op: String, afterID: Int64, upToID: Int64,
                            limit: Int) throws(CacheError) -> [EntryRecord] {
        guard let namespace = namespaces[name] else { return [] }
        do {
            return try store.entries(namespace: name, op: op, upstream: namespace.upstream, liveAt: Self.now(),
                                     afterID: afterID, upToID: upToID, limit: limit)
        } catch {
            throw indexFailure(error, namespace: name, op: op)
        }
    }

    /// A page of stored CIDs (`ls cid/`) ordered by row id; EIO (logged) when the index fails.
    public func storedContent(afterID: Int64, upToID: Int64, limit: Int) throws(CacheError) -> [BlobRecord] {
        do { return try store.blobs(afterID: afterID, upToID: upToID, limit: limit) } catch { throw indexFailure(error) }
    }

    /// The newest row id of entries (or of stored bytes): where a listing opened now stops.
    public func listingBound(ofEntries: Bool) throws(CacheError) -> Int64 {
        do { return try ofEntries ? store.maxEntryID() : store.maxBlobID() } catch { throw indexFailure(error) }
    }

    // MARK: Invalidation

    /// Drops one entry with every sample of it (`rm api/<ns>/<op>/<cid>`); false when there is none.
    /// The caller's front saw the unlink itself; it is told of the other samples removed.
    @discardableResult
    public func invalidate(namespace name: String, op: String, requestCID: String) throws(CacheError) -> Bool {
        guard let namespace = namespaces[name] else { return false }
        do {
            guard let entry = try store.entry(requestCID: requestCID, upstream: namespace.upstream), entry.op == op else { return false }
            let removed = try store.removeEntry(requestCID: requestCID, upstream: namespace.upstream)
            entries.forget(removed)
            notifyRemoved(removed.filter { $0.sample > 0 })
            return !removed.isEmpty
        } catch {
            throw indexFailure(error, namespace: name, op: op, requestCID: requestCID)
        }
    }

    /// The size of stored bytes (`cid/<cid>`); nil when they are not stored, EIO (logged) when the index fails.
    public func contentSize(cid: String) throws(CacheError) -> Int64? {
        do { return try store.blobSize(cid) } catch { throw indexFailure(error) }
    }

    /// Opens stored bytes (`cid/<cid>`, or an entry's body) for a front: nil
    /// when they are no longer stored (removed since they were looked up: rows
    /// go before files). Small ones not in memory are read from the index at
    /// the first read, so an open makes no system call; a read fails with EIO
    /// (logged) when the index says they are stored but they cannot be read.
    public func openContent(cid: String, size: Int64) throws(CacheError) -> StoredBytes? {
        if let opened = openedWithoutReading(cid: cid, size: size) { return opened }
        // A large one without its file: gone, or kept in the index by a store of an earlier version.
        if size > store.inlineLimit, try contentSize(cid: cid) == nil { return nil }
        return StoredBytes(size: Int(size)) { () throws(CacheError) in try self.readContent(cid: cid, size: size) }
    }

    /// Stored bytes opened without reading them: remembered in memory, or a
    /// large one's file; nil when they must be read from the store.
    func openedWithoutReading(cid: String, size: Int64) -> StoredBytes? {
        if let remembered = entries.body(cid) { return StoredBytes(memory: remembered) }
        guard size > store.inlineLimit else { return nil }
        let fd = Glibc.open(store.blobPath(cid), O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? StoredBytes(size: Int(size), fd: fd) : nil
    }

    /// Stored bytes read whole from the store, remembered when small.
    func readRemembering(cid: String, size: Int64) throws -> [UInt8] {
        let bytes = try store.readBlob(cid, size: size)
        entries.remember(body: bytes, contentCID: cid)
        return bytes
    }

    /// Stored bytes read whole (and remembered when small); nil when they are
    /// no longer stored, EIO (logged) when the index says they are.
    private func readContent(cid: String, size: Int64) throws(CacheError) -> [UInt8]? {
        do {
            return try readRemembering(cid: cid, size: size)
        } catch {
            do { if try store.blobSize(cid) == nil { return nil } } catch {}
            throw indexFailure(error)
        }
    }

    /// Drops stored bytes and every entry that points at them (`rm cid/<cid>`); false when they are not stored.
    @discardableResult
    public func removeContent(cid: String) throws(CacheError) -> Bool {
        do {
            guard try store.blobSize(cid) != nil else { return false }
            try store.removeBlob(cid, forget: notifyRemoved)
            return true
        } catch {
            throw indexFailure(error)
        }
    }

    func notifyRemoved(_ removed: [EntryRecord]) {
        entries.forget(removed)
        guard let observer = removalObserver.withLock({ $0 }) else { return }
        removed.forEach(observer)
    }
}
