import CidCacheCore
import CidCacheUpstreams
import Foundation
import Synchronization

/// The counters of one namespace (docs/REFERENCE.md §10).
public struct Counters: Codable, Sendable, Equatable {
    public var hits: Int64 = 0
    public var misses: Int64 = 0
    public var coalesced: Int64 = 0
    public var staleServed: Int64 = 0
    public var bypassed: Int64 = 0
    public var upstreamErrors: Int64 = 0
    public var evictions: Int64 = 0
    public var bytesServed: Int64 = 0
    public var latencySavedMs: Int64 = 0
    public var tokensSaved: Int64 = 0
    public var costSavedUSD: Double = 0
    /// Hits of operations that call no upstream (S3's presign): no call saved.
    public var localHits: Int64 = 0
    /// Requests the HTTP front refused at its door (host, origin, content type, pass-through, loop).
    public var httpRefused: Int64 = 0
    /// Samples of sampled requests fetched from the upstream (§8.1), also counted in `misses`.
    public var samplesFetched: Int64 = 0

    public init() {}

    /// Counters saved before a field existed read it as 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func count(_ key: CodingKeys) throws -> Int64 { try c.decodeIfPresent(Int64.self, forKey: key) ?? 0 }
        hits = try count(.hits); misses = try count(.misses); coalesced = try count(.coalesced)
        staleServed = try count(.staleServed); bypassed = try count(.bypassed); upstreamErrors = try count(.upstreamErrors)
        evictions = try count(.evictions); bytesServed = try count(.bytesServed); latencySavedMs = try count(.latencySavedMs)
        tokensSaved = try count(.tokensSaved); localHits = try count(.localHits); httpRefused = try count(.httpRefused)
        samplesFetched = try count(.samplesFetched)
        costSavedUSD = try c.decodeIfPresent(Double.self, forKey: .costSavedUSD) ?? 0
    }

    public var apiCallsSaved: Int64 { hits - localHits + coalesced + staleServed }
    public var hitRate: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }

    static func + (a: Counters, b: Counters) -> Counters {
        var sum = a
        sum.hits += b.hits; sum.misses += b.misses; sum.coalesced += b.coalesced
        sum.staleServed += b.staleServed; sum.bypassed += b.bypassed
        sum.upstreamErrors += b.upstreamErrors; sum.evictions += b.evictions
        sum.bytesServed += b.bytesServed; sum.latencySavedMs += b.latencySavedMs
        sum.tokensSaved += b.tokensSaved; sum.costSavedUSD += b.costSavedUSD; sum.localHits += b.localHits
        sum.httpRefused += b.httpRefused; sum.samplesFetched += b.samplesFetched
        return sum
    }
}

/// Per-namespace counters, updated lock-protected in memory and persisted in
/// the store by the engine's maintenance loop, so figures survive restarts.
final class Statistics: Sendable {
    private let state: Mutex<(counters: [String: Counters], dirty: Bool)>

    init(persisted: [UInt8]?) {
        let counters = persisted.flatMap { try? JSONDecoder().decode([String: Counters].self, from: Data($0)) } ?? [:]
        state = Mutex((counters, false))
    }

    /// Applies a change to one namespace's counters.
    func update(_ namespace: String, _ change: (inout Counters) -> Void) {
        state.withLock { state in
            change(&state.counters[namespace, default: Counters()])
            state.dirty = true
        }
    }

    func counters(_ namespace: String) -> Counters {
        state.withLock { $0.counters[namespace] ?? Counters() }
    }

    /// Every key's counters.
    func all() -> [String: Counters] {
        state.withLock { $0.counters }
    }

    func total() -> Counters {
        state.withLock { $0.counters.values.reduce(Counters(), +) }
    }

    /// Marks the counters changed again, after a snapshot could not be saved.
    func markDirty() {
        state.withLock { $0.dirty = true }
    }

    /// The counters to persist, or nil when nothing changed since the last call.
    func takeDirtySnapshot() -> [UInt8]? {
        let counters: [String: Counters]? = state.withLock { state in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.counters
        }
        return counters.flatMap { try? JSONEncoder().encode($0) }.map { [UInt8]($0) }
    }
}
