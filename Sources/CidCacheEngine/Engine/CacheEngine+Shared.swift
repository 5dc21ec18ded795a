public import CidCacheCore
import CidCacheShared
import CidCacheStore
import CidCacheUpstreams
import Foundation

/// The shared tier as one step between the store and the upstream: asked on a
/// local miss, told of every answer fetched (docs/REFERENCE.md §13).
extension CacheEngine {
    /// The shared tier of the config's `shared` section: its signing key read
    /// from its file, a bucket's credentials from the environment. The store
    /// is not asked here: a machine starts whether or not it answers.
    static func openSharedTier(_ section: SharedTierConfig, config: CacheConfig,
                               environment: [String: String]) throws -> SharedTier {
        let signingKey = try section.signingKeyPath.map { path throws -> Ed25519PrivateKey in
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CacheError(.invalidRequest, "shared.signing_key: cannot read \(path)")
            }
            return try SigningKeyFile.parse(Array(contents))
        }
        return SharedTier(config: section, store: try section.openStore(environment: environment),
                          signingKey: signingKey, maximumBodyBytes: config.responseLimitBytes)
    }

    /// Where each namespace's entries go in the shared tier; namespaces whose
    /// answers depend on this machine (exec) have none.
    static func sharedPlaces(_ namespaces: [String: Namespace]) -> [String: SharedPlace] {
        namespaces.compactMapValues { namespace in
            guard namespace.family.answersAreMachineIndependent else { return nil }
            return SharedPlace(upstream: namespace.sharedUpstream, credential: namespace.sharedScopeMaterial)
        }
    }

    /// Where a namespace's entries go in the shared tier: the configured
    /// namespace's place, or for one a caller's own credential makes (the HTTP
    /// front), the place of that credential.
    func sharedPlace(_ namespace: Namespace) -> SharedPlace? {
        if namespaces[namespace.name] === namespace { return sharedPlaces[namespace.name] }
        guard namespace.family.answersAreMachineIndependent else { return nil }
        return SharedPlace(upstream: namespace.sharedUpstream, credential: namespace.sharedScopeMaterial)
    }

    /// The shared tier's answer to a query this store could not answer, stored
    /// here with the record's remaining TTL (never more than this machine's
    /// own); nil when the tier has none. Refusals and failures are logged in
    /// `errors` and the query goes on to the upstream.
    func sharedAnswer(_ query: PreparedQuery) async -> (entry: EntryRecord?, body: [UInt8], contentType: String?)? {
        guard let shared, query.operation.callsUpstream, let place = sharedPlace(query.namespace) else { return nil }
        switch await shared.lookup(place, requestCID: query.requestCID, sample: query.sample) {
        case .hit(let record, let body):
            return (storeShared(query, record, body), body, record.contentType)
        case .refused(let refusal):
            logShared(query, CacheError(.io, "shared: \(refusal)"))
        case .failed(let why):
            logShared(query, CacheError(.timedOut, "shared: \(why)"))
        case .miss, .skipped:
            break
        }
        return nil
    }

    /// Stores a shared answer; nil (it is still served) when it could not be stored.
    private func storeShared(_ query: PreparedQuery, _ record: SharedRecord, _ body: [UInt8]) -> EntryRecord? {
        let ns = query.namespace
        let now = Self.now()
        let localExpiry = Int64(record.created).addingReportingOverflow(Int64(query.control.ttl ?? ttlFor(query)))
        let expires = min(Int64(record.expires), localExpiry.overflow ? .max : localExpiry.partialValue)
        do {
            return try storeEntry(query, NewEntry(
                requestCID: query.requestCID.string, upstream: ns.upstream, namespace: ns.name, op: query.op,
                contentCID: record.contentCID.string, size: Int64(body.count), fetched: now, expires: expires,
                ttl: max(0, expires - now), tokens: Int64(record.tokens ?? 0), costUSD: record.costUSD ?? 0, fetchMs: 0,
                contentType: record.contentType, sample: query.sample, samples: query.samples), body: body)
        } catch {
            logShared(query, CacheError(wrapping: error))
            return nil
        }
    }

    /// Queues a freshly fetched answer for the shared tier (never a private
    /// operation's: those are never stored, so never get here).
    func publishShared(_ query: PreparedQuery, _ entry: EntryRecord, body: [UInt8], contentCID: CID) {
        guard let shared, shared.writes, query.operation.callsUpstream, let place = sharedPlace(query.namespace) else { return }
        shared.publish(sharedUpload(place, entry, requestCID: query.requestCID, body: body, contentCID: contentCID))
    }

    /// Uploads every live entry this machine may share (`cidcache push`),
    /// `SharedTier.uploadConcurrency` at a time, each body read when its turn
    /// comes; how many are in the bucket and how many failed.
    public func pushToShared() async throws(CacheError) -> (pushed: Int, failed: Int) {
        guard let shared else { throw CacheError(.invalidRequest, "no shared tier configured (config key \"shared\")") }
        guard shared.writes else {
            throw CacheError(.accessDenied, "this machine is read-only for the shared tier (no shared.signing_key, or shared.upload false)")
        }
        var pending: [(place: SharedPlace, entry: EntryRecord)] = []
        let now = Self.now()
        for (name, namespace) in namespaces.sorted(by: { $0.key < $1.key }) {
            guard let place = sharedPlaces[name] else { continue }
            let live: [EntryRecord]
            do {
                live = try store.entries(namespace: name, op: nil, upstream: namespace.upstream).filter { $0.expires > now }
            } catch {
                throw CacheError(wrapping: error)
            }
            pending += live.filter { namespace.family.operation(named: $0.op)?.callsUpstream == true
                                     && !config.isPrivate(namespace: name, op: $0.op) }.map { (place, $0) }
        }
        return await withTaskGroup(of: Bool.self) { group in
            var counts = (pushed: 0, failed: 0)
            func count(_ pushed: Bool?) {
                if pushed == true { counts.pushed += 1 } else if pushed == false { counts.failed += 1 }
            }
            for (index, job) in pending.enumerated() {
                if index >= SharedTier.uploadConcurrency { count(await group.next()) }
                group.addTask { await self.push(job.entry, to: job.place, tier: shared) }
            }
            for await pushed in group { count(pushed) }
            return counts
        }
    }

    /// Uploads one stored entry now; whether its record is in the bucket.
    private func push(_ entry: EntryRecord, to place: SharedPlace, tier: SharedTier) async -> Bool {
        guard let contentCID = CID(entry.contentCID), let requestCID = CID(entry.requestCID),
              let body = try? readRemembering(cid: entry.contentCID, size: entry.size) else { return false }
        return await tier.uploadNow(sharedUpload(place, entry, requestCID: requestCID, body: body, contentCID: contentCID))
    }

    /// What the shared tier is given for a stored entry: its bytes and what its record says.
    private func sharedUpload(_ place: SharedPlace, _ entry: EntryRecord, requestCID: CID, body: [UInt8],
                              contentCID: CID) -> SharedUpload {
        SharedUpload(place: place, requestCID: requestCID, body: body, contentCID: contentCID,
                     created: Int(entry.fetched), expires: Int(entry.expires),
                     tokens: entry.tokens > 0 ? Int(entry.tokens) : nil, costUSD: entry.costUSD > 0 ? entry.costUSD : nil,
                     contentType: entry.contentType, sample: entry.sample)
    }

    private func logShared(_ query: PreparedQuery, _ error: CacheError) {
        log.recordError(namespace: query.namespace.name, op: query.op, requestCID: query.requestCID.string, error: error, pid: getpid())
    }
}
