import CidCacheCore
import CidCacheStore
import CidCacheUpstreams
import Foundation
import Synchronization

/// Answering from the store or the upstream: hits, the single flight of a
/// miss, the stale stand-in, and storing what the upstream answered.
extension CacheEngine {
    /// A fetch of one entry (one sample of a request), shared by every identical concurrent miss.
    typealias Fetch = SingleFlight<EntryKey, FlightResult>.Started

    /// Answers without looking for a live entry (the caller did, when
    /// `answersStored` was `lookedUpAt`): the bypass, `fetch` (begun when its
    /// sample was chosen), a fetch in progress, or a new upstream call.
    func answerFromUpstream(_ query: PreparedQuery, lookedUpAt: UInt64, fetch: Fetch? = nil) async throws -> Answer {
        let ns = query.namespace
        if query.bypassesCache {
            guard !config.offline else { throw offlineError() }
            let fetched = try await upstream.fetch(query) { _ in nil }
            statistics.update(ns.name) { $0.bypassed += 1 }
            return Answer(query, contentCID: nil, body: fetched.body, outcome: .bypassed, entry: nil, contentType: fetched.contentType)
        }
        // Offline, the shared tier may still answer (in the flight); nothing else does.
        guard !config.offline || (shared != nil && query.servesFromCache) else { throw offlineError() }

        let flight = fetch ?? startFetch(query, lookedUpAt: lookedUpAt)
        let result: FlightResult, joined = flight.joined
        do {
            result = try await flight.value()
        } catch is CancellationError {
            throw CacheError(.io, "the caller went away before the answer started (the upstream call goes on and fills the cache)")
        }
        if result.source == .stored, let entry = result.entry { return hitAnswer(query, entry, body: result.body) }
        let outcome: Outcome = joined ? .coalesced : result.source == .stale ? .stale : result.source == .shared ? .shared : .miss
        if outcome != .miss {
            statistics.update(ns.name) {
                if outcome == .stale { $0.staleServed += 1 } else if outcome == .coalesced { $0.coalesced += 1 }
            }
            result.body.whenEnded { result in
                guard case .success(let count) = result else { return }
                self.statistics.update(ns.name) { $0.bytesServed += Int64(count) }
            }
        }
        return Answer(query, contentCID: result.entry.flatMap { CID($0.contentCID) }, body: result.body, outcome: outcome,
                      entry: result.entry, contentType: result.contentType)
    }

    /// The fetch of the query's entry (its sample) under way, or a new one begun now.
    func startFetch(_ query: PreparedQuery, lookedUpAt: UInt64) -> Fetch {
        let key = EntryKey(upstream: query.namespace.upstream, requestCID: query.requestCID.string, sample: query.sample)
        return flights.start(key) { land in try await self.fly(query, lookedUpAt: lookedUpAt, land: land) }
    }

    /// The answer of the request's live entry, counted as a hit; nil when there is none.
    func hit(_ query: PreparedQuery) throws -> Answer? {
        try storedAnswer(query).map { hitAnswer(query, $0.entry, body: ResponseBody(stored: $0.bytes)) }
    }

    /// The request's live entry and its bytes; nil when there is none.
    func storedAnswer(_ query: PreparedQuery) throws -> (entry: EntryRecord, bytes: StoredBytes)? {
        guard let entry = try liveEntry(namespace: query.namespace, requestCID: query.requestCID.string, sample: query.sample) else {
            return nil
        }
        return try openStored(entry).map { (entry, $0) }
    }

    /// An entry's stored bytes, opened: small ones from memory or read now,
    /// larger ones through their file; nil when the entry left the index since
    /// it was read (its bytes may be gone with it). Rows are trusted over
    /// files: bytes missing under an entry still indexed are EIO.
    func openStored(_ entry: EntryRecord) throws -> StoredBytes? {
        if let opened = openedWithoutReading(cid: entry.contentCID, size: entry.size) { return opened }
        do {
            // Small ones, and large ones an earlier version kept in the index.
            return StoredBytes(memory: try readRemembering(cid: entry.contentCID, size: entry.size))
        } catch {
            guard try store.entry(requestCID: entry.requestCID, upstream: entry.upstream, sample: entry.sample)?.id != entry.id else {
                throw error
            }
            entries.forget([entry])
            return nil
        }
    }

    /// A live entry's answer, counted as a hit.
    func hitAnswer(_ query: PreparedQuery, _ entry: EntryRecord, body: ResponseBody) -> Answer {
        recordHit(entry)
        return Answer(query, contentCID: CID(entry.contentCID), body: body, outcome: .hit, entry: entry,
                      contentType: entry.contentType)
    }

    struct FlightResult: Sendable {
        /// Where a flight's answer came from.
        enum Source { case upstream, stale, stored, shared }
        let body: ResponseBody
        /// The entry served, for a stale or stored answer.
        let entry: EntryRecord?
        let source: Source
        /// The upstream's `Content-Type` for the answer, when known.
        var contentType: String? { entry?.contentType ?? fetchedContentType }
        /// A fresh answer's, before it is stored.
        var fetchedContentType: String? = nil
    }

    /// One upstream call shared by every identical concurrent miss. It resolves
    /// when the answer starts (or a recently expired entry stands in for a
    /// failed upstream) and lands, no longer joinable, once the answer is stored.
    func fly(_ query: PreparedQuery, lookedUpAt: UInt64,
                     land: @escaping @Sendable () -> Void) async throws -> FlightResult {
        do {
            // The caller looked for a live entry before this flight took off; a
            // flight that landed in between has stored the answer already.
            if query.servesFromCache, answersStored.load(ordering: .acquiring) != lookedUpAt,
               let stored = try storedAnswer(query) {
                land()
                return FlightResult(body: ResponseBody(stored: stored.bytes), entry: stored.entry, source: .stored)
            }
            if query.servesFromCache, let found = await sharedAnswer(query) {
                land()
                return FlightResult(body: ResponseBody(stored: StoredBytes(memory: found.body)), entry: found.entry, source: .shared,
                                    fetchedContentType: found.contentType)
            }
            guard !config.offline else { throw offlineError() }
            let fetched = try await upstream.fetch(query) { whole in self.complete(query, whole) }
            fetched.body.whenComplete { _ in land() }
            return FlightResult(body: fetched.body, entry: nil, source: .upstream, fetchedContentType: fetched.contentType)
        } catch let error as CacheError where [.busy, .timedOut, .io].contains(error.kind) {
            land()
            if let stale = try? staleEntry(namespace: query.namespace, requestCID: query.requestCID.string, sample: query.sample),
               let bytes = try? openStored(stale) {
                return FlightResult(body: ResponseBody(stored: bytes), entry: stale, source: .stale)
            }
            throw error
        } catch {
            land()
            throw error
        }
    }

    /// Counts a whole fresh answer and stores it; the CID it was stored under.
    /// A failure to store is logged, and the caller still gets its answer:
    /// only the cache missed out.
    func complete(_ query: PreparedQuery, _ whole: WholeAnswer) -> CID? {
        statistics.update(query.namespace.name) {
            $0.misses += 1
            if query.isSampled { $0.samplesFetched += 1 }
        }
        do {
            let (contentCID, entry) = try store(query, whole)
            publishShared(query, entry, body: whole.bytes, contentCID: contentCID)
            return contentCID
        } catch {
            log.recordError(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string,
                            error: CacheError(wrapping: error), pid: getpid())
            return nil
        }
    }

    /// Stores a whole answer: its bytes, its key document and its entry; the bytes' CID and the entry.
    func store(_ query: PreparedQuery, _ whole: WholeAnswer) throws -> (CID, EntryRecord) {
        let ns = query.namespace
        let (bytes, usage, sent) = (whole.bytes, whole.usage, whole.sent)
        let elapsedMs = sent.elapsedMilliseconds
        let ttl = query.control.ttl ?? ttlFor(query)
        let fetched = Int64(sent.date.timeIntervalSince1970)
        let contentCID = CID.forContent(bytes)
        let entry = try storeEntry(query, NewEntry(
            requestCID: query.requestCID.string, upstream: ns.upstream, namespace: ns.name, op: query.op,
            contentCID: contentCID.string, size: Int64(bytes.count),
            fetched: fetched, expires: fetched.addingReportingOverflow(Int64(ttl)).overflow ? .max : fetched + Int64(ttl), ttl: Int64(ttl),
            tokens: Int64(usage?.totalTokens ?? 0), costUSD: usage.map(prices.cost) ?? 0, fetchMs: elapsedMs,
            contentType: whole.contentType, sample: query.sample, samples: query.samples), body: bytes)
        return (contentCID, entry)
    }

    /// Stores an entry with its bytes and the query's key document, and remembers it.
    func storeEntry(_ query: PreparedQuery, _ new: NewEntry, body bytes: [UInt8]) throws -> EntryRecord {
        let mark = entries.removalMark()
        let (entry, replaced) = try store.storeAnswer(new, body: bytes, keyDocument: query.keyDocument)
        storedBytes.withLock { $0 += Int64(bytes.count + query.keyDocument.count) }
        answersStored.add(1, ordering: .releasing)
        entries.remember(entry, readAfter: mark)  // first: forgetting the replaced record must not count against it
        if let replaced { notifyRemoved([replaced]) }
        entries.remember(body: bytes, contentCID: new.contentCID)  // after: the replaced one may share its CID
        return entry
    }

    /// The TTL of a query: the config's override for its operation, else the operation's rule.
    func ttlFor(_ query: PreparedQuery) -> Int {
        config.ttlOverrides[query.namespace.name]?[query.op] ?? query.operation.defaultTTL(query.request)
    }

    func offlineError() -> CacheError {
        CacheError(.offline, "offline mode and no live entry")
    }
}
