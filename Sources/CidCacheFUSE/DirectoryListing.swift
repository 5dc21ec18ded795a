/// The offsets of a folder's listing, apart from libfuse so they can be tested.
///
/// Each entry carries the offset a readdir resumes at to list what follows
/// it. The fixed entries (`.`, `..`, then static children, or `query` in an
/// operation's folder) are at index + 1: 1, 2, 3, ... Paged rows (entries,
/// stored bytes) follow at `fixed.count + row id`, so they resume past any
/// fixed entry and in the order of their ids (row ids start at 1). A listing
/// resumed at the offset of the last entry it returned lists each name once.
struct DirectoryListing {
    struct Entry: Equatable {
        let name: String
        let inode: UInt64
        let directory: Bool
    }

    let fixed: [Entry]
    /// Whether rows follow the fixed entries.
    let paged: Bool

    /// The inode number shown for a listed row: informative, a lookup assigns the real one.
    static func rowInode(_ id: Int64) -> UInt64 { UInt64(1 << 40) + UInt64(id) }

    /// Lists from `offset` (0: from the start): calls `add` with each entry
    /// and the offset that resumes after it, until `add` returns false (the
    /// reply is full) or nothing is left.
    /// - Parameter page: the rows whose ids are above the given one, in id order; empty at the end.
    func list<E: Error>(from offset: Int64, page: (_ after: Int64) throws(E) -> [(id: Int64, name: String)],
                        add: (Entry, _ next: Int64) -> Bool) throws(E) {
        for (index, entry) in fixed.enumerated() where Int64(index) >= offset {
            if !add(entry, Int64(index) + 1) { return }
        }
        guard paged else { return }
        let base = Int64(fixed.count)
        var after = max(0, offset - base)
        while true {
            let rows = try page(after)
            if rows.isEmpty { return }
            for (id, name) in rows {
                if !add(Entry(name: name, inode: Self.rowInode(id), directory: false), base + id) { return }
                after = id
            }
        }
    }
}
