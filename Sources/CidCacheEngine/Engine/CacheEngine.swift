public import CidCacheCore
import CidCacheShared
import CidCacheStore
import CidCacheUpstreams
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
    /// Counters by caller name (the HTTP front's caller keys).
    let callerStatistics: Statistics
    let prices: PriceTable
    /// One upstream call per entry at a time.
    let flights = SingleFlight<EntryKey, FlightResult>()
    /// Each sampled request's turn: which stored sample (or fetch under way) the next ask gets (§8.1).
    let sampleTurns = ShardedMap<EntryKey, Int>(capacity: 4096)
    /// Entries recently looked up, so repeated opens skip the index.
    let entries = EntryCache()
    /// Requests recently keyed, so asking again skips keying.
    let recentRequests = RecentRequests()
    /// Answers stored so far: a miss whose look-up saw this count looks again
    /// before calling the upstream only when it changed (a flight landed).
    let answersStored = Atomic<UInt64>(0)
    /// Hits not yet written to the index, by entry id.
    let pendingAccesses = ShardedMap<Int64, (hits: Int64, lastAccess: Int64)>()
    let removalObserver = Mutex<(@Sendable (EntryRecord) -> Void)?>(nil)
    /// The tier shared with other machines (config `shared`), and where each namespace's entries go in it.
    let shared: SharedTier?
    let sharedPlaces: [String: SharedPlace]
    /// Bytes written to the store, counted high (shared bodies count again)
    /// until the next eviction pass measures them exactly.
    let storedBytes: Mutex<Int64>
    /// The store's key for credential scopes, for callers that bring their own credential.
    let scopeSecret: [UInt8]

    /// Opens the engine on a data directory.
    /// - Parameter truncateLogs: start `errors` and `log` empty (a new mount).
    public init(dataDirectory: String, config: CacheConfig, environment: [String: String],
                truncateLogs: Bool) throws {
        self.config = config
        store = try Store(directory: dataDirectory)
        scopeSecret = try store.secret()
        let list = try NamespaceResolver.resolve(config: config, environment: environment, secret: scopeSecret)
        namespaces = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        log = TransactionLog(dataDirectory: dataDirectory, rotateBytes: config.logRotateBytes, truncate: truncateLogs)
        statistics = Statistics(persisted: try store.loadState("stats"))
        callerStatistics = Statistics(persisted: try store.loadState("caller_stats"))
        upstream = UpstreamCaller(config: config, namespaces: list, statistics: statistics)
        prices = PriceTable(overrides: config.prices)
        storedBytes = Mutex(try store.blobStats().bytes)
        shared = try config.shared.map { try Self.openSharedTier($0, config: config, environment: environment) }
        sharedPlaces = Self.sharedPlaces(namespaces)
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
        let samplesAsked = control.samples ?? config.sampleOverrides[name]?[op] ?? 1
        if let sample = control.sample, sample >= samplesAsked {
            throw CacheError(.invalidRequest, "cidcache.sample must be below the samples asked for (\(samplesAsked))")
        }
        let dropped = operation.droppedFields.union([QueryControl.key])
        var request = object.removing(keys: dropped)
        try operation.validate(request)
        if let enrich = operation.enrich { request = try enrich(request) }
        let sampled = samplesAsked > 1 && operation.isSampled(request)
        let keyDocument = KeyDocument.canonicalBytes(namespace: name, op: op, request: .object(request))
        return PreparedQuery(
            namespace: namespace, operation: operation, request: request,
            upstreamBody: document.removingTopLevelMembers(dropped.union(operation.pathOnlyFields)),
            keyDocument: keyDocument, requestCID: CID.forKeyDocument(keyDocument), control: control,
            bypassesCache: control.noStore || config.isPrivate(namespace: name, op: op),
            samples: sampled ? samplesAsked : 1, sample: sampled ? control.sample ?? 0 : 0)
    }

    // MARK: Answering

    /// Answers a request: returns as soon as the answer's bytes start to be
    /// available (its body may still be arriving). Logs the transaction when
    /// the body ends, and every failure.
    /// - Parameter pid: the caller's process, for the log lines.
    public func query(namespace: String, op: String, body: [UInt8], pid: Int32,
                      options: QueryOptions = QueryOptions()) async throws(CacheError) -> Answer {
        switch start(namespace: namespace, op: op, body: body, pid: pid, options: options) {
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
        public var requestCID: CID { query.requestCID }
        let started: Moment
        let pid: Int32
        /// Whose answer it is (`QueryOptions.caller`).
        let caller: String?
        /// The daemons it passed through (`QueryOptions.hops`).
        let hops: [String]
        /// `answersStored` when its live entry was looked for.
        let lookedUpAt: UInt64
        /// The fetch of its sample, begun or joined when the sample was chosen.
        let fetch: Fetch?
    }

    /// The part of `query` that never waits: keying, and the answer of a live entry.
    public func start(namespace: String, op: String, body: [UInt8], pid: Int32,
                      options: QueryOptions = QueryOptions()) -> QueryStart {
        let started = Moment.now
        var prepared: PreparedQuery?
        do {
            let keyed = applying(options, to: try recentRequests.prepared(namespace: namespace, op: op, body: body) {
                try prepare(namespace: namespace, op: op, body: body)
            })
            prepared = keyed
            let lookedUpAt = answersStored.load(ordering: .acquiring)
            let (query, fetch) = try takeSample(keyed, lookedUpAt: lookedUpAt)
            if fetch == nil, query.servesFromCache, let answer = try hit(query) {
                log.logWhenComplete(answer, query, started: started, pid: pid)
                count(answer, for: options.caller)
                return .answered(answer)
            }
            return .needsUpstream(PendingQuery(query: query, started: started, pid: pid, caller: options.caller,
                                               hops: options.hops, lookedUpAt: lookedUpAt, fetch: fetch))
        } catch {
            let failure = CacheError(wrapping: error)
            log.fail(namespace: namespace, op: op, requestCID: prepared?.requestCID.string, error: failure, started: started, pid: pid)
            return .failed(failure)
        }
    }

    /// A keyed query as a front's options change it: refresh and no-store
    /// added to its control object, the caller's credential in its namespace
    /// (whose upstream identity then has that credential's scope).
    func applying(_ options: QueryOptions, to query: PreparedQuery) -> PreparedQuery {
        var query = query
        if options.refresh { query.control.refresh = true }
        if options.noStore {
            query.control.noStore = true
            query.bypassesCache = true
        }
        // The configured credential sent back (what an SDK does with the same key) changes nothing.
        if let credential = options.credential, credential != query.namespace.endpoint.credential {
            query.namespace = query.namespace.calling(with: credential, secret: scopeSecret)
        }
        return query
    }

    /// The rest of `query`: a fetch in progress or the upstream (or the bypass).
    public func finish(_ pending: PendingQuery) async throws(CacheError) -> Answer {
        let query = pending.query
        do {
            let answer = try await HopMark.$carried.withValue(pending.hops) {
                try await answerFromUpstream(query, lookedUpAt: pending.lookedUpAt, fetch: pending.fetch)
            }
            log.logWhenComplete(answer, query, started: pending.started, pid: pending.pid)
            count(answer, for: pending.caller)
            return answer
        } catch {
            let failure = CacheError(wrapping: error)
            log.fail(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string, error: failure,
                     started: pending.started, pid: pending.pid)
            throw failure
        }
    }

    /// Counts an answer under the caller that asked, as the namespace counts it: what a hit saved, a miss, a stand-in.
    func count(_ answer: Answer, for caller: String?) {
        guard let caller else { return }
        let entry = answer.entry
        callerStatistics.update(caller) {
            switch answer.outcome {
            case .hit:
                $0.hits += 1
                $0.tokensSaved += entry?.tokens ?? 0
                $0.costSavedUSD += entry?.costUSD ?? 0
                $0.latencySavedMs += entry?.fetchMs ?? 0
            case .miss: $0.misses += 1
            case .coalesced: $0.coalesced += 1
            case .stale: $0.staleServed += 1
            case .bypassed: $0.bypassed += 1
            case .shared, .error: break
            }
        }
    }

    /// Answers a prepared request from a live entry, a fetch in progress, or the upstream.
    public func answer(_ query: PreparedQuery) async throws(CacheError) -> Answer {
        do {
            let lookedUpAt = answersStored.load(ordering: .acquiring)
            let (query, fetch) = try takeSample(query, lookedUpAt: lookedUpAt)
            if fetch == nil, query.servesFromCache, let answer = try hit(query) { return answer }
            return try await answerFromUpstream(query, lookedUpAt: lookedUpAt, fetch: fetch)
        } catch {
            throw CacheError(wrapping: error)
        }
    }
}
