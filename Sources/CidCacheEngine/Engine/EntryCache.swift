import CidCacheStore
import Synchronization

/// Entries recently read from (or written to) the index, by upstream and
/// request CID, so repeated opens of an entry skip the index. Removals are
/// counted, so a record read before a removal is never remembered after it
/// (it would answer for an entry that is gone). 16 384 records (about 2 MiB
/// with their strings) bound the daemon's memory at any store size.
final class EntryCache: Sendable {
    private let records = ShardedMap<EntryKey, EntryRecord>(capacity: 16_384)
    private let removals = Atomic<UInt64>(0)

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

    /// Called once the entries left the index, before their bytes go.
    func forget(_ entries: [EntryRecord]) {
        removals.add(1, ordering: .sequentiallyConsistent)
        for entry in entries {
            records.update(EntryKey(entry)) { if $0?.id == entry.id { $0 = nil } }
        }
    }
}
