import CidCacheCore
import CidCacheStore

/// Where an entry lives in the index: its upstream identity, request CID and
/// sample (0 for every unsampled request).
struct EntryKey: Hashable, Sendable {
    let upstream: String
    let requestCID: String
    let sample: Int

    init(upstream: String, requestCID: String, sample: Int = 0) {
        self.upstream = upstream
        self.requestCID = requestCID
        self.sample = sample
    }

    init(_ entry: EntryRecord) {
        self.init(upstream: entry.upstream, requestCID: entry.requestCID, sample: entry.sample)
    }
}
