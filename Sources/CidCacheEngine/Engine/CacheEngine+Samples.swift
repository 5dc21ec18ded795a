public import CidCacheCore
import CidCacheStore
import CidCacheUpstreams

/// Sample buckets (docs/REFERENCE.md §8.1): which of its N samples a sampled query answers.
extension CacheEngine {
    /// A fetch of one sample, begun (or joined) when the sample was chosen.
    typealias SampleFetch = SingleFlight<EntryKey, FlightResult>.Started

    /// The query with its sample chosen, and the fetch of that sample when it was begun or joined here.
    /// A sample asked for by index is that one. Otherwise, under the request's turn lock: once all N are
    /// live, the next in rotation; before, a slot neither live nor being fetched (its fetch begun here,
    /// so a concurrent ask takes another), and when every missing slot is being fetched, one of those
    /// fetches in turn. A refresh refetches the sample it would have served.
    func takeSample(_ query: PreparedQuery, lookedUpAt: UInt64) throws -> (query: PreparedQuery, fetch: SampleFetch?) {
        guard query.isSampled, !query.bypassesCache, query.control.sample == nil else { return (query, nil) }
        var query = query
        var outcome: Result<SampleFetch?, any Error> = .success(nil)
        sampleTurns.update(EntryKey(upstream: query.namespace.upstream, requestCID: query.requestCID.string)) { turn in
            outcome = Result {
                let live = try (0..<query.samples).filter {
                    try liveEntry(namespace: query.namespace, requestCID: query.requestCID.string, sample: $0) != nil
                }
                let taken = turn ?? 0
                let choice = SampleSlots(count: query.samples, live: Set(live), fetching: Set((0..<query.samples).filter {
                    flights.isFlying(EntryKey(upstream: query.namespace.upstream, requestCID: query.requestCID.string, sample: $0))
                })).choice(turn: taken)
                turn = choice.nextTurn
                query.sample = choice.slot
                guard choice.fetches || !query.servesFromCache else { return nil }
                return startFetch(query, lookedUpAt: lookedUpAt)
            }
        }
        return (query, try outcome.get())
    }

    /// The live samples of a request at `api/<namespace>/<op>/<requestCID>`, by index; EIO (logged) when the index fails.
    public func liveSamples(namespace name: String, op: String, requestCID: String) throws(CacheError) -> [EntryRecord] {
        guard let namespace = namespaces[name] else { return [] }
        do {
            let now = Self.now()
            return try store.samples(requestCID: requestCID, upstream: namespace.upstream).filter { $0.op == op && $0.expires > now }
        } catch {
            throw indexFailure(error, namespace: name, op: op, requestCID: requestCID)
        }
    }
}

/// The choice among a request's N sample slots, from which are live and which are being fetched (pure: tested alone).
struct SampleSlots: Equatable {
    let count: Int
    let live: Set<Int>
    let fetching: Set<Int>

    struct Choice: Equatable {
        /// The slot to answer.
        let slot: Int
        /// Whether its answer comes from a fetch (a new one, or one under way) rather than a stored sample.
        let fetches: Bool
        /// The request's turn for the next ask.
        let nextTurn: Int
    }

    /// The slot for the ask whose turn is `turn`: once all are live, the stored one in rotation; else the
    /// lowest slot neither live nor being fetched; else the fetches under way in rotation. Rotation goes on
    /// from the last slot served or fetched, so k <= N consecutive asks see k distinct samples.
    func choice(turn: Int) -> Choice {
        if live.count >= count {
            let slot = turn % count
            return Choice(slot: slot, fetches: false, nextTurn: slot + 1)
        }
        let missing = (0..<count).filter { !live.contains($0) }
        if let free = missing.first(where: { !fetching.contains($0) }) {
            return Choice(slot: free, fetches: true, nextTurn: free + 1)
        }
        return Choice(slot: missing[turn % missing.count], fetches: true, nextTurn: turn + 1)
    }
}
