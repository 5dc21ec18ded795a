import CidCacheCore
import CidCacheStore
import Foundation
import Synchronization

/// The cache: answers queries from the store or the upstream (one call for any
/// number of identical concurrent misses), keeps statistics and the `errors`
/// and `log` files, and invalidates. It knows nothing of FUSE; every front
/// (the mount, the CLI) drives it through this type.
public final class CacheEngine: Sendable {
    public let config: CacheConfig
    public let store: Store
    /// Namespaces by name.
    public let namespaces: [String: Namespace]
    /// The `errors` file: one JSON line per failure.
    public let errorLog: EventLog
    /// The `log` file: one JSON line per transaction.
    public let transactionLog: EventLog

    let client: UpstreamClient
    let statistics: Statistics
    let prices: PriceTable
    let limiters: [String: UpstreamLimiter]
    private let flights = Mutex<[EntryKey: Task<FlightResult, Error>]>([:])
    /// Hits not yet written to the index, by entry id.
    private let pendingAccesses = ShardedMap<Int64, (hits: Int64, lastAccess: Int64)>()
    private let removalObserver = Mutex<(@Sendable (EntryRecord) -> Void)?>(nil)
    /// Entries recently looked up, by upstream and request CID, so repeated
    /// opens of an entry skip the index. Every removal and refetch updates it.
    /// 16 384 records (about 2 MiB with their strings) bound the daemon's memory at any store size.
    private let recentEntries = ShardedMap<EntryKey, EntryRecord>(capacity: 16_384)
    /// Counts removals from the index, so a record read before a removal is
    /// never remembered after it (it would answer for an entry that is gone).
    private let removals = Atomic<UInt64>(0)
    /// Bytes written to the store, counted high (shared bodies count again)
    /// until the next eviction pass measures them exactly.
    private let storedBytes: Mutex<Int64>

    /// Opens the engine on a data directory.
    /// - Parameter truncateLogs: start `errors` and `log` empty (a new mount).
    public init(dataDirectory: String, config: CacheConfig, environment: [String: String],
                truncateLogs: Bool) throws {
        self.config = config
        store = try Store(directory: dataDirectory)
        let list = try NamespaceResolver.resolve(config: config, environment: environment, secret: try store.secret())
        namespaces = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        errorLog = EventLog(path: dataDirectory + "/errors.jsonl", rotateBytes: config.logRotateBytes, truncate: truncateLogs)
        transactionLog = EventLog(path: dataDirectory + "/log.jsonl", rotateBytes: config.logRotateBytes, truncate: truncateLogs)
        client = UpstreamClient(timeoutSeconds: config.upstreamTimeoutSeconds, responseLimitBytes: config.responseLimitBytes)
        statistics = Statistics(persisted: try store.loadState("stats"))
        prices = PriceTable(overrides: config.prices)
        storedBytes = Mutex(try store.blobStats().bytes)
        limiters = Dictionary(uniqueKeysWithValues: list.map { namespace in
            let limits = config.limits(for: namespace.name)
            return (namespace.name, UpstreamLimiter(concurrent: limits.concurrent, perMinute: limits.perMinute))
        })
    }

    /// Namespace names, sorted.
    public var namespaceNames: [String] { namespaces.keys.sorted() }

    /// Whether a namespace serves an operation.
    public func hasOperation(namespace: String, op: String) -> Bool {
        namespaces[namespace]?.family.acceptsOperation(op) ?? false
    }

    /// Called with every entry removed other than by a direct unlink through
    /// the front (expiry sweeps, `ctl`, content removal), so the front can tell its clients.
    public func setRemovalObserver(_ observer: @escaping @Sendable (EntryRecord) -> Void) {
        removalObserver.withLock { $0 = observer }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: Keying

    /// Parses, normalizes and keys a request (SPEC section 1).
    public func prepare(namespace name: String, op: String, body: [UInt8]) throws -> PreparedQuery {
        guard let namespace = namespaces[name] else { throw CacheError(.notFound, "unknown namespace \"\(name)\"") }
        guard namespace.family.acceptsOperation(op) else {
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
        let dropped = namespace.family.droppedFields(op: op).union([QueryControl.key])
        var request = object.removing(keys: dropped)
        try namespace.family.validate(op: op, request: request)
        if let family = namespace.family as? RequestEnrichingFamily { request = try family.enrich(op: op, request: request) }
        let keyDocument = KeyDocument.canonicalBytes(namespace: name, op: op, request: .object(request))
        return PreparedQuery(
            namespace: namespace, op: op, request: request,
            upstreamBody: document.removingTopLevelMembers(dropped),
            keyDocument: keyDocument, requestCID: CID.forKeyDocument(keyDocument), control: control)
    }

    // MARK: Answering

    /// Answers a request: returns as soon as the answer's bytes start to be
    /// available (its body may still be arriving). Logs the transaction when
    /// the body ends, and every failure.
    /// - Parameter pid: the caller's process, for the log lines.
    public func query(namespace: String, op: String, body: [UInt8], pid: Int32) async throws -> Answer {
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
    }

    /// The part of `query` that never waits: keying, and the answer of a live entry.
    public func start(namespace: String, op: String, body: [UInt8], pid: Int32) -> QueryStart {
        let started = Date()
        var prepared: PreparedQuery?
        do {
            let query = try prepare(namespace: namespace, op: op, body: body)
            prepared = query
            if servesFromCache(query), let answer = try hit(query) {
                logWhenComplete(answer, query, started: started, pid: pid)
                return .answered(answer)
            }
            return .needsUpstream(PendingQuery(query: query, started: started, pid: pid))
        } catch {
            let failure = error as? CacheError ?? CacheError(.io, "\(error)")
            fail(namespace: namespace, op: op, requestCID: prepared?.requestCID.string, error: failure, started: started, pid: pid)
            return .failed(failure)
        }
    }

    /// The rest of `query`: a fetch in progress or the upstream (or the bypass).
    public func finish(_ pending: PendingQuery) async throws -> Answer {
        let query = pending.query
        do {
            let answer = try await answerFromUpstream(query)
            logWhenComplete(answer, query, started: pending.started, pid: pending.pid)
            return answer
        } catch let error as CacheError {
            fail(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string, error: error,
                 started: pending.started, pid: pending.pid)
            throw error
        }
    }

    private func logWhenComplete(_ answer: Answer, _ query: PreparedQuery, started: Date, pid: Int32) {
        let namespace = query.namespace.name, op = query.op
        answer.body.whenComplete { result in
            switch result {
            case .success(let bytes):
                self.logTransaction(namespace: namespace, op: op, requestCID: query.requestCID.string,
                                    cid: (answer.contentCID ?? CID.forContent(bytes)).string,
                                    outcome: answer.outcome, started: started, bytes: bytes.count, pid: pid)
            case .failure(let error):
                self.fail(namespace: namespace, op: op, requestCID: query.requestCID.string,
                          error: error, started: started, pid: pid)
            }
        }
    }

    private func fail(namespace: String, op: String, requestCID: String?, error: CacheError, started: Date, pid: Int32) {
        recordError(namespace: namespace, op: op, requestCID: requestCID, error: error, pid: pid)
        logTransaction(namespace: namespace, op: op, requestCID: requestCID, cid: nil,
                       outcome: .error, started: started, bytes: 0, pid: pid)
    }

    /// Answers a prepared request from a live entry, a fetch in progress, or the upstream.
    public func answer(_ query: PreparedQuery) async throws -> Answer {
        if servesFromCache(query), let answer = try hit(query) { return answer }
        return try await answerFromUpstream(query)
    }

    /// Answers without looking for a live entry (the caller did): the bypass,
    /// a fetch in progress, or a new upstream call.
    private func answerFromUpstream(_ query: PreparedQuery) async throws -> Answer {
        let ns = query.namespace
        if bypassesCache(query) {
            guard !config.offline else { throw offlineError() }
            let body = try await fetch(query, store: false)
            statistics.update(ns.name) { $0.bypassed += 1 }
            return Answer(requestCID: query.requestCID, contentCID: nil, body: body, outcome: .bypassed, entry: nil)
        }
        guard !config.offline else { throw offlineError() }

        let key = EntryKey(upstream: ns.upstream, requestCID: query.requestCID.string)
        let (flight, joined) = flights.withLock { flights -> (Task<FlightResult, Error>, Bool) in
            if let existing = flights[key] { return (existing, true) }
            let task = Task { try await self.fly(query, key: key) }
            flights[key] = task
            return (task, false)
        }
        let result = try await flight.value
        if result.source == .stored, let entry = result.entry { return hitAnswer(query, entry, body: result.body) }
        let outcome: Outcome = result.source == .stale ? .stale : (joined ? .coalesced : .miss)
        if outcome != .miss {
            statistics.update(ns.name) { if outcome == .stale { $0.staleServed += 1 } else { $0.coalesced += 1 } }
            result.body.whenComplete { result in
                guard case .success(let bytes) = result else { return }
                self.statistics.update(ns.name) { $0.bytesServed += Int64(bytes.count) }
            }
        }
        return Answer(requestCID: query.requestCID, contentCID: result.entry.flatMap { CID($0.contentCID) },
                      body: result.body, outcome: outcome, entry: result.entry)
    }

    /// Whether a request passes through uncached (`no_store`, or a private operation).
    private func bypassesCache(_ query: PreparedQuery) -> Bool {
        query.control.noStore || config.isPrivate(namespace: query.namespace.name, op: query.op)
    }

    /// Whether a live entry may answer the request (not bypassed, not `refresh`).
    private func servesFromCache(_ query: PreparedQuery) -> Bool {
        !bypassesCache(query) && !query.control.refresh
    }

    /// The answer of the request's live entry, counted as a hit; nil when there is none.
    private func hit(_ query: PreparedQuery) throws -> Answer? {
        try storedAnswer(query).map { hitAnswer(query, $0.entry, body: ResponseBody(complete: $0.bytes)) }
    }

    /// The request's live entry and its bytes; nil when there is none.
    private func storedAnswer(_ query: PreparedQuery) throws -> (entry: EntryRecord, bytes: [UInt8])? {
        guard let entry = try liveEntry(namespace: query.namespace, requestCID: query.requestCID.string) else { return nil }
        return (entry, try store.readBlob(entry.contentCID, size: entry.size))
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
    /// failed upstream) and stays joinable until the answer is stored.
    private func fly(_ query: PreparedQuery, key: EntryKey) async throws -> FlightResult {
        let land = { _ = self.flights.withLock { $0.removeValue(forKey: key) } }
        do {
            // The caller looked for a live entry before this flight took off; a
            // flight that landed in between has stored the answer already.
            if servesFromCache(query), let stored = try storedAnswer(query) {
                land()
                return FlightResult(body: ResponseBody(complete: stored.bytes), entry: stored.entry, source: .stored)
            }
            let body = try await fetch(query, store: true)
            body.whenComplete { _ in land() }
            return FlightResult(body: body, entry: nil, source: .upstream)
        } catch let error as CacheError where [.busy, .timedOut, .io].contains(error.kind) {
            land()
            if let stale = try? staleEntry(namespace: query.namespace, requestCID: query.requestCID.string),
               let bytes = try? store.readBlob(stale.contentCID, size: stale.size) {
                return FlightResult(body: ResponseBody(complete: bytes), entry: stale, source: .stale)
            }
            throw error
        } catch {
            land()
            throw error
        }
    }

    /// Calls the upstream and returns once its answer starts; the body then
    /// fills in the background and, when asked, is stored once whole. Error
    /// answers are never stored.
    private func fetch(_ query: PreparedQuery, store shouldStore: Bool) async throws -> ResponseBody {
        let ns = query.namespace
        if ns.family.requiresCredential && ns.endpoint.credential == nil {
            throw CacheError(.accessDenied, "no credential configured for namespace \(ns.name)")
        }
        let sent = Date()
        let body = ResponseBody()
        if let family = ns.family as? SelfFetchingFamily {
            let bytes: [UInt8]
            do {
                bytes = try await withinLimits(query) {
                    do {
                        return .done(try await family.fetch(op: query.op, request: query.request, body: query.upstreamBody,
                                                            endpoint: ns.endpoint, client: self.client))
                    } catch let error as CacheError where family.retriesFailures && Self.isTransient(error) {
                        return .retry(error, after: nil)
                    }
                }
            } catch let error as CacheError {
                throw upstreamFailure(error, ns)
            }
            body.append(bytes)
            if shouldStore { complete(query, body: body, sent: sent) }
            body.finish()
            return body
        }
        let request = try ns.family.httpRequest(op: query.op, request: query.request,
                                                body: query.upstreamBody, endpoint: ns.endpoint)
        let response: UpstreamResponse
        do {
            response = try await send(request, query)
        } catch let error as CacheError {
            throw upstreamFailure(error, ns)
        }
        Task {
            do {
                try await response.stream { body.append($0.readableBytesView) }
            } catch let error as CacheError {
                return body.fail(upstreamFailure(error, ns))
            }
            if ns.family.streams(op: query.op, request: query.request),
               !ns.family.isCompleteStream(op: query.op, body: body.received) {
                return body.fail(upstreamFailure(CacheError(.io, "the stream ended before its terminal event"), ns))
            }
            if shouldStore { complete(query, body: body, sent: sent) }
            body.finish()
        }
        return body
    }

    /// One upstream call within the namespace's limits, retried while nothing
    /// was answered (connection failures) or the answer says "try again" (429, 5xx).
    /// Returns a 2xx answer whose body is still to come.
    private func send(_ request: UpstreamHTTPRequest, _ query: PreparedQuery) async throws -> UpstreamResponse {
        try await withinLimits(query) {
            do {
                let response = try await self.client.send(request)
                if (200..<300).contains(response.status) { return .done(response) }
                let bytes = (try? await response.collect()) ?? []
                let family = query.namespace.family
                let error = (family as? ErrorMappingFamily)?.error(op: query.op, status: response.status,
                                                                   headers: response.headers, body: bytes)
                    ?? CacheError.forStatus(response.status, "upstream answered \(response.status): \(Self.errorMessage(bytes))")
                guard Self.retryableStatuses.contains(response.status) else { throw error }
                return .retry(error, after: response.header("retry-after").flatMap(Double.init))
            } catch let error as CacheError where Self.isTransient(error) {
                return .retry(error, after: nil)  // no answer at all (refused, reset): ask again
            }
        }
    }

    /// What one attempt at an upstream call came to.
    private enum Attempt<Value> {
        case done(Value)
        /// A failure worth asking again, after the upstream's Retry-After when it gave one.
        case retry(CacheError, after: Double?)
    }

    /// Runs attempts of one upstream call, each within the namespace's
    /// concurrency and per-minute limits (queued, never refused), with
    /// exponential backoff between them, up to `upstream_retries` repeats and
    /// never past the upstream timeout.
    private func withinLimits<Value: Sendable>(_ query: PreparedQuery,
                                               _ attempt: @escaping @Sendable () async throws -> Attempt<Value>) async throws -> Value {
        let limiter = limiters[query.namespace.name]!
        let deadline = Date().addingTimeInterval(config.upstreamTimeoutSeconds)
        var retries = 0
        while true {
            let failure: CacheError, retryAfter: Double?
            switch try await limiter.run({ try await attempt() }) {
            case .done(let value): return value
            case .retry(let error, let after): (failure, retryAfter) = (error, after)
            }
            guard retries < config.upstreamRetries else { throw failure }
            let backoff = Double(config.retryBackoffMilliseconds) / 1000 * Double(1 << retries) * Double.random(in: 0.75...1.25)
            let wait = min(retryAfter ?? backoff, 60)
            guard Date().addingTimeInterval(wait) < deadline else { throw failure }
            try await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
            retries += 1
        }
    }

    /// Answers worth asking again: rate limited, overloaded, or a server fault.
    static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504, 529]

    /// A failure worth asking again: one of those answers, or no answer at all.
    static func isTransient(_ error: CacheError) -> Bool {
        error.status.map(retryableStatuses.contains) ?? (error.kind == .io)
    }

    /// Counts an upstream failure and scrubs what the upstream echoed.
    private func upstreamFailure(_ error: CacheError, _ ns: Namespace) -> CacheError {
        statistics.update(ns.name) { $0.upstreamErrors += 1 }
        return CacheError(error.kind, scrub(error.message, endpoint: ns.endpoint), status: error.status)
    }

    /// Counts a whole fresh answer and stores it. A failure to store is logged,
    /// and the caller still gets its answer: only the cache missed out.
    private func complete(_ query: PreparedQuery, body: ResponseBody, sent: Date) {
        statistics.update(query.namespace.name) { $0.misses += 1 }
        do {
            try store(query, bytes: body.received, sent: sent)
        } catch {
            let failure = error as? CacheError ?? CacheError(.io, "\(error)")
            recordError(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string,
                        error: failure, pid: getpid())
        }
    }

    /// Stores a whole answer: its bytes, its key document and its entry.
    private func store(_ query: PreparedQuery, bytes: [UInt8], sent: Date) throws {
        let ns = query.namespace
        let elapsedMs = Int64(Date().timeIntervalSince(sent) * 1000)
        let usage = ns.family.usage(op: query.op, request: query.request, response: bytes)
        let ttl = query.control.ttl ?? ttlFor(query)
        let fetched = Int64(sent.timeIntervalSince1970)
        let removalsBefore = removals.load(ordering: .sequentiallyConsistent)
        let (entry, replaced) = try store.storeAnswer(NewEntry(
            requestCID: query.requestCID.string, upstream: ns.upstream, namespace: ns.name, op: query.op,
            contentCID: CID.forContent(bytes).string, size: Int64(bytes.count),
            fetched: fetched, expires: fetched.addingReportingOverflow(Int64(ttl)).overflow ? .max : fetched + Int64(ttl), ttl: Int64(ttl),
            tokens: Int64(usage?.totalTokens ?? 0), costUSD: usage.map(prices.cost) ?? 0, fetchMs: elapsedMs),
            body: bytes, keyDocument: query.keyDocument)
        storedBytes.withLock { $0 += Int64(bytes.count + query.keyDocument.count) }
        remember(entry, readAfter: removalsBefore)  // first: forgetting the replaced record must not count against it
        if let replaced { notifyRemoved([replaced]) }
    }

    /// The TTL of a query: the config's override for its operation, else the family's rule.
    func ttlFor(_ query: PreparedQuery) -> Int {
        config.ttlOverrides[query.namespace.name]?[query.op]
            ?? query.namespace.family.defaultTTL(op: query.op, request: query.request)
    }

    private func offlineError() -> CacheError {
        CacheError(.offline, "offline mode and no live entry")
    }

    /// The most useful text of an upstream error body: its `error.message` when JSON, else a prefix.
    static func errorMessage(_ body: [UInt8]) -> String {
        if let object = (try? CanonicalJSON.parse(body))?.objectValue {
            if let message = object["error"]?.objectValue?["message"]?.stringValue { return message }
            if let message = object["error"]?.stringValue ?? object["message"]?.stringValue { return message }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
    }

    /// Removes credentials and credential-looking fragments an upstream echoed.
    func scrub(_ message: String, endpoint: Endpoint) -> String {
        var text = message
        if let key = endpoint.credential, !key.isEmpty {
            text = text.replacingOccurrences(of: key, with: "[redacted]")
        }
        let patterns = [#"(sk|pk|rk|gsk|hf|ghp|gho|ghs|github_pat|xai)[-_][A-Za-z0-9_\-\*\.]{4,}"#,
                        #"AIza[A-Za-z0-9_\-]{20,}"#,  // Google API keys: "AIza" and 35 more, no separator
                        #"(?i)bearer\s+\S+"#, #"AKIA[0-9A-Z]{8,}"#]
        for pattern in patterns {
            text = text.replacingOccurrences(of: pattern, with: "[redacted]", options: .regularExpression)
        }
        return text
    }

    // MARK: Entries

    /// The live entry of a request under the namespace's current upstream identity.
    public func liveEntry(namespace: Namespace, requestCID: String) throws -> EntryRecord? {
        if let cached = recentEntries[EntryKey(upstream: namespace.upstream, requestCID: requestCID)] {
            return cached.expires > Self.now() ? cached : nil
        }
        let removalsBefore = removals.load(ordering: .sequentiallyConsistent)
        guard let entry = try store.entry(requestCID: requestCID, upstream: namespace.upstream) else { return nil }
        remember(entry, readAfter: removalsBefore)
        return entry.expires > Self.now() ? entry : nil
    }

    /// Remembers an entry read from (or written to) the index, unless something
    /// was removed since: the entry may be among what was.
    private func remember(_ entry: EntryRecord, readAfter removalsBefore: UInt64) {
        recentEntries.update(EntryKey(entry)) { record in
            if removals.load(ordering: .sequentiallyConsistent) == removalsBefore { record = entry }
        }
    }

    /// Called after the entries left the index.
    private func forget(_ entries: [EntryRecord]) {
        removals.add(1, ordering: .sequentiallyConsistent)
        for entry in entries {
            recentEntries.update(EntryKey(entry)) { if $0?.id == entry.id { $0 = nil } }
        }
    }

    /// The live entry at `api/<namespace>/<op>/<requestCID>`, if any.
    public func liveEntry(namespace name: String, op: String, requestCID: String) -> EntryRecord? {
        guard let namespace = namespaces[name],
              let entry = try? liveEntry(namespace: namespace, requestCID: requestCID),
              entry.op == op else { return nil }
        return entry
    }

    /// An entry that expired no longer ago than the stale window.
    func staleEntry(namespace: Namespace, requestCID: String) throws -> EntryRecord? {
        guard let entry = try store.entry(requestCID: requestCID, upstream: namespace.upstream),
              entry.expires > Self.now() - Int64(config.staleWindowSeconds) else { return nil }
        return entry
    }

    /// Counts an answer from a live entry: a query hit or an open of the entry's file.
    public func recordHit(_ entry: EntryRecord) {
        let latency = entry.fetchMs, tokens = entry.tokens, cost = entry.costUSD, size = entry.size
        statistics.update(entry.namespace) {
            $0.hits += 1
            $0.bytesServed += size
            $0.latencySavedMs += latency
            $0.tokensSaved += tokens
            $0.costSavedUSD += cost
        }
        let now = Self.now()
        pendingAccesses.update(entry.id) { $0 = (($0?.hits ?? 0) + 1, now) }
    }

    /// The hit count of an entry, including hits not yet written to the index.
    public func hits(of entry: EntryRecord) -> Int64 {
        let flushed = (try? store.entry(id: entry.id))?.hits ?? entry.hits
        return flushed + (pendingAccesses[entry.id]?.hits ?? 0)
    }

    /// A page of live entries of one operation, ordered by id, for directory listings.
    public func liveEntries(namespace name: String, op: String, afterID: Int64, upToID: Int64, limit: Int) -> [EntryRecord] {
        guard let namespace = namespaces[name] else { return [] }
        return (try? store.entries(namespace: name, op: op, upstream: namespace.upstream, liveAt: Self.now(),
                                   afterID: afterID, upToID: upToID, limit: limit)) ?? []
    }

    // MARK: Invalidation

    /// Drops one entry (`rm api/<ns>/<op>/<cid>`). The caller's front saw the unlink itself.
    @discardableResult
    public func invalidate(namespace name: String, op: String, requestCID: String) -> Bool {
        guard let namespace = namespaces[name],
              let entry = try? store.entry(requestCID: requestCID, upstream: namespace.upstream),
              entry.op == op,
              let removed = try? store.removeEntry(requestCID: requestCID, upstream: namespace.upstream) else { return false }
        forget([removed])
        return true
    }

    /// Drops stored bytes and every entry that points at them (`rm cid/<cid>`).
    @discardableResult
    public func removeContent(cid: String) -> Bool {
        guard (try? store.blobSize(cid)) != nil else { return false }
        guard let removed = try? store.removeBlob(cid) else { return false }
        notifyRemoved(removed)
        return true
    }

    func notifyRemoved(_ entries: [EntryRecord]) {
        forget(entries)
        guard let observer = removalObserver.withLock({ $0 }) else { return }
        entries.forEach(observer)
    }

    // MARK: Maintenance

    /// Writes batched hit counts and statistics to the store.
    public func flush() {
        let accesses = pendingAccesses.drain().map { (id: $0.key, hits: $0.value.hits, lastAccess: $0.value.lastAccess) }
        if !accesses.isEmpty { try? store.recordAccesses(accesses) }
        evictIfOverBudget()
        if let snapshot = statistics.takeDirtySnapshot() { try? store.saveState("stats", snapshot) }
    }

    /// Past the disk budget, evicts least recently used entries and the bytes
    /// no entry needs any more, counting evictions per namespace.
    func evictIfOverBudget() {
        guard storedBytes.withLock({ $0 }) > config.diskBudgetBytes else { return }
        guard let evicted = try? store.evict(toFit: config.diskBudgetBytes) else { return }
        for entry in evicted { statistics.update(entry.namespace) { $0.evictions += 1 } }
        notifyRemoved(evicted)
        let measured = (try? store.blobStats().bytes) ?? 0
        storedBytes.withLock { $0 = measured }
    }

    /// Flushes once a second until cancelled, then once more.
    public func runMaintenance() async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            flush()
        }
        flush()
    }

    /// Flushes and stops the HTTP client.
    public func shutdown() async {
        flush()
        await client.shutdown()
    }

    // MARK: errors and log

    /// Appends a failure to `errors` (SPEC section 3).
    public func recordError(namespace: String?, op: String?, requestCID: String?, error: CacheError, pid: Int32) {
        errorLog.append([
            ("time", .string(EventLog.timestamp())),
            ("namespace", namespace.map(JSON.string) ?? .null),
            ("op", op.map(JSON.string) ?? .null),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
            ("errno", .string(error.errnoName)),
            ("status", error.status.map { .number(Double($0)) } ?? .null),
            ("message", .string(error.message)),
            ("pid", .number(Double(pid))),
        ])
    }

    func logTransaction(namespace: String, op: String, requestCID: String?, cid: String?, outcome: Outcome,
                        started: Date, bytes: Int, pid: Int32) {
        transactionLog.append([
            ("time", .string(EventLog.timestamp(started))),
            ("namespace", .string(namespace)),
            ("op", .string(op)),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
            ("cid", cid.map(JSON.string) ?? .null),
            ("outcome", .string(outcome.rawValue)),
            ("ms", .number((Date().timeIntervalSince(started) * 1000).rounded())),
            ("bytes", .number(Double(bytes))),
            ("pid", .number(Double(pid))),
        ])
    }
}
