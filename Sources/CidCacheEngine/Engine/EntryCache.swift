import CidCacheCore
import CidCacheStore
import Synchronization

/// Entries recently read from (or written to) the index, by upstream and
/// request CID, so repeated opens of an entry skip the index, and the bytes
/// of recent small answers, by content CID, so a repeated query skips it too.
/// Removals are counted, so a record read before a removal is never
/// remembered after it (it would answer for an entry that is gone). 16 384
/// records (about 2 MiB with their strings) and 1 024 bodies of at most
/// 16 KiB bound the daemon's memory at any store size.
final class EntryCache: Sendable {
    private let records = ShardedMap<EntryKey, EntryRecord>(capacity: 16_384)
    private let bodies = ShardedMap<String, [UInt8]>(capacity: 1024)
    private let removals = Atomic<UInt64>(0)
    /// Bodies larger than this are read from the store each time.
    static let largestBody = 16 * 1024

    /// The record remembered for a key, live or not.
    subscript(key: EntryKey) -> EntryRecord? { records[key] }

    /// Taken before reading the index; handed back to `remember`.
    func removalMark() -> UInt64 {
        removals.load(ordering: .sequentiallyConsistent)
    }

    /// Remembers an entry read after `mark`, unless something was removed
    /// since: the entry may be among what was.
    func remember(_ entry: EntryRecord, readAfter mark: UInt64) {
        records.update(EntryKey(entry)) { record in
            if removals.load(ordering: .sequentiallyConsistent) == mark { record = entry }
        }
    }

    /// The bytes remembered under a content CID (a CID's bytes never change).
    func body(_ contentCID: String) -> [UInt8]? { bodies[contentCID] }

    /// Remembers the bytes of a small answer under their content CID.
    func remember(body: [UInt8], contentCID: String) {
        guard body.count <= Self.largestBody else { return }
        bodies.update(contentCID) { $0 = body }
    }

    /// Called once the entries left the index, before their bytes go.
    func forget(_ entries: [EntryRecord]) {
        removals.add(1, ordering: .sequentiallyConsistent)
        for entry in entries {
            records.update(EntryKey(entry)) { if $0?.id == entry.id { $0 = nil } }
            bodies.update(entry.contentCID) { $0 = nil }
        }
    }
}
