import CidCacheCore
import CidCacheUpstreams
import CidCacheStore
import Foundation
import Synchronization

/// The cache: answers queries from the store or the upstream (one call for any
/// number of identical concurrent misses), keeps statistics and the `errors`
/// and `log` files, and invalidates. It knows nothing of FUSE; every front
/// (the mount, the CLI) drives it through this type.
public final class CacheEngine: Sendable {
    public let config: CacheConfig
    let store: Store
    /// Namespaces by name.
    public let namespaces: [String: Namespace]
    /// The `errors` and `log` files.
    public let log: TransactionLog
    /// The `errors` file: one JSON line per failure.
    public var errorLog: EventLog { log.errors }
    /// The `log` file: one JSON line per transaction.
    public var transactionLog: EventLog { log.transactions }

    let upstream: UpstreamCaller
    let statistics: Statistics
    let prices: PriceTable
    /// One upstream call per entry at a time.
    private let flights = SingleFlight<EntryKey, FlightResult>()
    /// Entries recently looked up, so repeated opens skip the index.
    let entries = EntryCache()
    /// Requests recently keyed, so asking again skips keying.
    private let recentRequests = RecentRequests()
    /// Answers stored so far: a miss whose look-up saw this count looks again
    /// before calling the upstream only when it changed (a flight landed).
    private let answersStored = Atomic<UInt64>(0)
    /// Hits not yet written to the index, by entry id.
    let pendingAccesses = ShardedMap<Int64, (hits: Int64, lastAccess: Int64)>()
    let removalObserver = Mutex<(@Sendable (EntryRecord) -> Void)?>(nil)
    /// Bytes written to the store, counted high (shared bodies count again)
    /// until the next eviction pass measures them exactly.
    let storedBytes: Mutex<Int64>

    /// Opens the engine on a data directory.
    /// - Parameter truncateLogs: start `errors` and `log` empty (a new mount).
    public init(dataDirectory: String, config: CacheConfig, environment: [String: String],
                truncateLogs: Bool) throws {
        self.config = config
        store = try Store(directory: dataDirectory)
        let list = try NamespaceResolver.resolve(config: config, environment: environment, secret: try store.secret())
        namespaces = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        log = TransactionLog(dataDirectory: dataDirectory, rotateBytes: config.logRotateBytes, truncate: truncateLogs)
        statistics = Statistics(persisted: try store.loadState("stats"))
        upstream = UpstreamCaller(config: config, namespaces: list, statistics: statistics)
        prices = PriceTable(overrides: config.prices)
        storedBytes = Mutex(try store.blobStats().bytes)
    }

    /// Namespace names, sorted.
    public var namespaceNames: [String] { namespaces.keys.sorted() }

    /// Whether a namespace serves an operation.
    public func hasOperation(namespace: String, op: String) -> Bool {
        namespaces[namespace]?.family.operation(named: op) != nil
    }

    /// Called with every entry removed other than by a direct unlink through
    /// the front (expiry sweeps, `ctl`, content removal), so the front can tell its clients.
    public func setRemovalObserver(_ observer: @escaping @Sendable (EntryRecord) -> Void) {
        removalObserver.withLock { $0 = observer }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: Keying

    /// Parses, normalizes and keys a request (docs/REFERENCE.md §1).
    public func prepare(namespace name: String, op: String, body: [UInt8]) throws(CacheError) -> PreparedQuery {
        do { return try keyed(namespace: name, op: op, body: body) } catch { throw CacheError(wrapping: error) }
    }

    private func keyed(namespace name: String, op: String, body: [UInt8]) throws -> PreparedQuery {
        guard let namespace = namespaces[name] else { throw CacheError(.notFound, "unknown namespace \"\(name)\"") }
        guard let operation = namespace.family.operation(named: op) else {
            throw CacheError(.notFound, "namespace \(name) has no operation \"\(op)\"")
        }
        if body.count > config.requestLimitBytes {
            throw CacheError(.tooLarge, "request larger than \(config.requestLimitBytes) bytes")
        }
        let document = try CanonicalJSON.parseDocument(body)
        guard let object = document.value.objectValue else {
            throw CacheError(.invalidRequest, "the request must be a JSON object")
        }
        let control = try QueryControl(object[QueryControl.key])
        let dropped = operation.droppedFields.union([QueryControl.key])
        var request = object.removing(keys: dropped)
        try operation.validate(request)
        if let enrich = operation.enrich { request = try enrich(request) }
        let keyDocument = KeyDocument.canonicalBytes(namespace: name, op: op, request: .object(request))
        return PreparedQuery(
            namespace: namespace, operation: operation, request: request,
            upstreamBody: document.removingTopLevelMembers(dropped.union(operation.pathOnlyFields)),
            keyDocument: keyDocument, requestCID: CID.forKeyDocument(keyDocument), control: control,
            bypassesCache: control.noStore || config.isPrivate(namespace: name, op: op))
    }

    // MARK: Answering

    /// Answers a request: returns as soon as the answer's bytes start to be
    /// available (its body may still be arriving). Logs the transaction when
    /// the body ends, and every failure.
    /// - Parameter pid: the caller's process, for the log lines.
    public func query(namespace: String, op: String, body: [UInt8], pid: Int32) async throws(CacheError) -> Answer {
        switch start(namespace: namespace, op: op, body: body, pid: pid) {
        case .answered(let answer): return answer
        case .failed(let error): throw error
        case .needsUpstream(let pending): return try await finish(pending)
        }
    }

    /// How far a query got without waiting: `start` keys it and answers a live
    /// entry on the caller's thread; only what needs the upstream goes on to `finish`.
    public enum QueryStart: Sendable {
        case answered(Answer)
        /// Refused or failed (already logged).
        case failed(CacheError)
        case needsUpstream(PendingQuery)
    }

    /// A keyed query still to be answered by `finish`.
    public struct PendingQuery: Sendable {
        let query: PreparedQuery
        let started: Date
        let pid: Int32
        /// `answersStored` when its live entry was looked for.
        let lookedUpAt: UInt64
    }

    /// The part of `query` that never waits: keying, and the answer of a live entry.
    public func start(namespace: String, op: String, body: [UInt8], pid: Int32) -> QueryStart {
        let started = Date()
        var prepared: PreparedQuery?
        do {
            let query = try recentRequests.prepared(namespace: namespace, op: op, body: body) {
                try prepare(namespace: namespace, op: op, body: body)
            }
            prepared = query
            let lookedUpAt = answersStored.load(ordering: .acquiring)
            if query.servesFromCache, let answer = try hit(query) {
                log.logWhenComplete(answer, query, started: started, pid: pid)
                return .answered(answer)
            }
            return .needsUpstream(PendingQuery(query: query, started: started, pid: pid, lookedUpAt: lookedUpAt))
        } catch {
            let failure = CacheError(wrapping: error)
            log.fail(namespace: namespace, op: op, requestCID: prepared?.requestCID.string, error: failure, started: started, pid: pid)
            return .failed(failure)
        }
    }

    /// The rest of `query`: a fetch in progress or the upstream (or the bypass).
    public func finish(_ pending: PendingQuery) async throws(CacheError) -> Answer {
        let query = pending.query
        do {
            let answer = try await answerFromUpstream(query, lookedUpAt: pending.lookedUpAt)
            log.logWhenComplete(answer, query, started: pending.started, pid: pending.pid)
            return answer
        } catch {
            let failure = CacheError(wrapping: error)
            log.fail(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string, error: failure,
                     started: pending.started, pid: pending.pid)
            throw failure
        }
    }

    /// Answers a prepared request from a live entry, a fetch in progress, or the upstream.
    public func answer(_ query: PreparedQuery) async throws(CacheError) -> Answer {
        do {
            let lookedUpAt = answersStored.load(ordering: .acquiring)
            if query.servesFromCache, let answer = try hit(query) { return answer }
            return try await answerFromUpstream(query, lookedUpAt: lookedUpAt)
        } catch {
            throw CacheError(wrapping: error)
        }
    }

    /// Answers without looking for a live entry (the caller did, when
    /// `answersStored` was `lookedUpAt`): the bypass, a fetch in progress, or a new upstream call.
    private func answerFromUpstream(_ query: PreparedQuery, lookedUpAt: UInt64) async throws -> Answer {
        let ns = query.namespace
        if query.bypassesCache {
            guard !config.offline else { throw offlineError() }
            let body = try await upstream.fetch(query) { _ in nil }
            statistics.update(ns.name) { $0.bypassed += 1 }
            return Answer(requestCID: query.requestCID, contentCID: nil, body: body, outcome: .bypassed, entry: nil)
        }
        guard !config.offline else { throw offlineError() }

        let key = EntryKey(upstream: ns.upstream, requestCID: query.requestCID.string)
        let (result, joined) = try await flights.run(key) { land in
            try await self.fly(query, lookedUpAt: lookedUpAt, land: land)
        }
        if result.source == .stored, let entry = result.entry { return hitAnswer(query, entry, body: result.body) }
        let outcome: Outcome = result.source == .stale ? .stale : (joined ? .coalesced : .miss)
        if outcome != .miss {
            statistics.update(ns.name) { if outcome == .stale { $0.staleServed += 1 } else { $0.coalesced += 1 } }
            result.body.whenEnded { result in
                guard case .success(let count) = result else { return }
                self.statistics.update(ns.name) { $0.bytesServed += Int64(count) }
            }
        }
        return Answer(requestCID: query.requestCID, contentCID: result.entry.flatMap { CID($0.contentCID) },
                      body: result.body, outcome: outcome, entry: result.entry)
    }

    /// The answer of the request's live entry, counted as a hit; nil when there is none.
    private func hit(_ query: PreparedQuery) throws -> Answer? {
        try storedAnswer(query).map { hitAnswer(query, $0.entry, body: ResponseBody(stored: $0.bytes)) }
    }

    /// The request's live entry and its bytes; nil when there is none.
    private func storedAnswer(_ query: PreparedQuery) throws -> (entry: EntryRecord, bytes: StoredBytes)? {
        guard let entry = try liveEntry(namespace: query.namespace, requestCID: query.requestCID.string) else { return nil }
        return try openStored(entry).map { (entry, $0) }
    }

    /// An entry's stored bytes, opened: small ones from memory or read now,
    /// larger ones through their file; nil when the entry left the index since
    /// it was read (its bytes may be gone with it). Rows are trusted over
    /// files: bytes missing under an entry still indexed are EIO.
    func openStored(_ entry: EntryRecord) throws -> StoredBytes? {
        if let remembered = entries.body(entry.contentCID) { return StoredBytes(memory: remembered) }
        do {
            if entry.size > store.inlineLimit {
                let fd = Glibc.open(store.blobPath(entry.contentCID), O_RDONLY | O_CLOEXEC)
                if fd >= 0 { return StoredBytes(size: Int(entry.size), fd: fd) }
            }
            // Small ones, and large ones an earlier version kept in the index.
            let bytes = try store.readBlob(entry.contentCID, size: entry.size)
            entries.remember(body: bytes, contentCID: entry.contentCID)
            return StoredBytes(memory: bytes)
        } catch {
            guard try store.entry(requestCID: entry.requestCID, upstream: entry.upstream)?.id != entry.id else { throw error }
            entries.forget([entry])
            return nil
        }
    }

    /// A live entry's answer, counted as a hit.
    private func hitAnswer(_ query: PreparedQuery, _ entry: EntryRecord, body: ResponseBody) -> Answer {
        recordHit(entry)
        return Answer(requestCID: query.requestCID, contentCID: CID(entry.contentCID), body: body, outcome: .hit, entry: entry)
    }

    struct FlightResult: Sendable {
        /// Where a flight's answer came from.
        enum Source { case upstream, stale, stored }
        let body: ResponseBody
        /// The entry served, for a stale or stored answer.
        let entry: EntryRecord?
        let source: Source
    }

    /// One upstream call shared by every identical concurrent miss. It resolves
    /// when the answer starts (or a recently expired entry stands in for a
    /// failed upstream) and lands, no longer joinable, once the answer is stored.
    private func fly(_ query: PreparedQuery, lookedUpAt: UInt64,
                     land: @escaping @Sendable () -> Void) async throws -> FlightResult {
        do {
            // The caller looked for a live entry before this flight took off; a
            // flight that landed in between has stored the answer already.
            if query.servesFromCache, answersStored.load(ordering: .acquiring) != lookedUpAt,
               let stored = try storedAnswer(query) {
                land()
                return FlightResult(body: ResponseBody(stored: stored.bytes), entry: stored.entry, source: .stored)
            }
            let body = try await upstream.fetch(query) { whole in self.complete(query, whole) }
            body.whenComplete { _ in land() }
            return FlightResult(body: body, entry: nil, source: .upstream)
        } catch let error as CacheError where [.busy, .timedOut, .io].contains(error.kind) {
            land()
            if let stale = try? staleEntry(namespace: query.namespace, requestCID: query.requestCID.string),
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
    private func complete(_ query: PreparedQuery, _ whole: WholeAnswer) -> CID? {
        statistics.update(query.namespace.name) { $0.misses += 1 }
        do {
            return try store(query, whole)
        } catch {
            log.recordError(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string,
                            error: CacheError(wrapping: error), pid: getpid())
            return nil
        }
    }

    /// Stores a whole answer: its bytes, its key document and its entry; the bytes' CID.
    private func store(_ query: PreparedQuery, _ whole: WholeAnswer) throws -> CID {
        let ns = query.namespace
        let (bytes, usage, sent) = (whole.bytes, whole.usage, whole.sent)
        let elapsedMs = Int64(Date().timeIntervalSince(sent) * 1000)
        let ttl = query.control.ttl ?? ttlFor(query)
        let fetched = Int64(sent.timeIntervalSince1970)
        let mark = entries.removalMark()
        let contentCID = CID.forContent(bytes)
        let (entry, replaced) = try store.storeAnswer(NewEntry(
            requestCID: query.requestCID.string, upstream: ns.upstream, namespace: ns.name, op: query.op,
            contentCID: contentCID.string, size: Int64(bytes.count),
            fetched: fetched, expires: fetched.addingReportingOverflow(Int64(ttl)).overflow ? .max : fetched + Int64(ttl), ttl: Int64(ttl),
            tokens: Int64(usage?.totalTokens ?? 0), costUSD: usage.map(prices.cost) ?? 0, fetchMs: elapsedMs),
            body: bytes, keyDocument: query.keyDocument)
        storedBytes.withLock { $0 += Int64(bytes.count + query.keyDocument.count) }
        answersStored.add(1, ordering: .releasing)
        entries.remember(entry, readAfter: mark)  // first: forgetting the replaced record must not count against it
        if let replaced { notifyRemoved([replaced]) }
        entries.remember(body: bytes, contentCID: contentCID.string)  // after: the replaced one may share its CID
        return contentCID
    }

    /// The TTL of a query: the config's override for its operation, else the operation's rule.
    func ttlFor(_ query: PreparedQuery) -> Int {
        config.ttlOverrides[query.namespace.name]?[query.op] ?? query.operation.defaultTTL(query.request)
    }

    private func offlineError() -> CacheError {
        CacheError(.offline, "offline mode and no live entry")
    }
}
