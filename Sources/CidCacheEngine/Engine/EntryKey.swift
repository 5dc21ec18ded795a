import CidCacheCore
import CidCacheStore

/// Where an entry lives in the index: its upstream identity and request CID.
struct EntryKey: Hashable, Sendable {
    let upstream: String
    let requestCID: String

    init(upstream: String, requestCID: String) {
        self.upstream = upstream
        self.requestCID = requestCID
    }

    init(_ entry: EntryRecord) {
        self.init(upstream: entry.upstream, requestCID: entry.requestCID)
    }
}
