import CFuse
import CidCacheCore
import CidCacheEngine
import Glibc

// MARK: Folders

extension FileSystem {
    /// Paged folders remember the newest row at opendir: the listing is a stable snapshot.
    func opendir(_ request: Request, inode: UInt64) {
        guard let node = nodes.node(inode), node.isDirectory else { return request.error(ENOTDIR) }
        var snapshot: Int64 = 0
        do {
            switch node {
            case .cidDirectory: snapshot = try engine.listingBound(ofEntries: false)
            case .operationDirectory: snapshot = try engine.listingBound(ofEntries: true)
            default: break
            }
        } catch {
            return request.error(error.errno)
        }
        request.openDirectory(snapshot: UInt64(snapshot))
    }

    /// Offsets: 1 and 2 are `.` and `..`; static children follow in order; paged
    /// children (entries, stored bytes) sit at 3 + their row id (`query` at 3 before them).
    func readdir(_ request: Request, inode: UInt64, size: Int, offset: Int64, snapshot: Int64) {
        guard let node = nodes.node(inode) else { return request.error(ENOENT) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var used = 0
        func add(_ name: String, inode: UInt64, directory: Bool, next: Int64) -> Bool {
            var st = stat()
            st.st_ino = UInt(inode)
            st.st_mode = mode_t(directory ? FileType.directory : FileType.regular)
            let needed = fuse_add_direntry(request.raw, nil, 0, name, nil, 0)
            guard used + needed <= size else { return false }
            _ = fuse_add_direntry(request.raw, buffer.advanced(by: used).assumingMemoryBound(to: CChar.self),
                                  size - used, name, &st, off_t(next))
            used += needed
            return true
        }
        var fixed: [(name: String, inode: UInt64, directory: Bool)] = [(".", inode, true), ("..", NodeTable.rootInode, true)]
        var pagedFrom: Int64? = nil
        switch node {
        case .operationDirectory(let namespace, let op):
            fixed.append(("query", nodes.inode(ofStatic: .query(namespace: namespace, op: op)) ?? 0, false))
            pagedFrom = Int64(fixed.count)
        case .cidDirectory:
            pagedFrom = Int64(fixed.count)
        default:
            for child in children(of: node) {
                fixed.append((child.name, nodes.inode(ofStatic: child.node) ?? 0, child.node.isDirectory))
            }
        }
        var full = false
        for (index, item) in fixed.enumerated() where Int64(index) >= offset {
            if !add(item.name, inode: item.inode, directory: item.directory, next: Int64(index) + 1) { full = true; break }
        }
        if !full, let base = pagedFrom {
            var after = max(0, offset - base)
            pages: while true {
                let page: [(id: Int64, name: String)]
                do { page = try self.page(of: node, after: after, upTo: snapshot) } catch { return request.error(error.errno) }
                if page.isEmpty { break }
                for (id, name) in page {
                    // Inode numbers of listed names are informative; lookup assigns the real one.
                    if !add(name, inode: UInt64(1 << 40) + UInt64(id), directory: false, next: base + id) { break pages }
                    after = id
                }
            }
        }
        request.bytes(UnsafeRawBufferPointer(start: buffer, count: used))
    }

    private func page(of node: Node, after: Int64, upTo: Int64) throws(CacheError) -> [(id: Int64, name: String)] {
        switch node {
        case .operationDirectory(let namespace, let op):
            return try engine.liveEntries(namespace: namespace, op: op, afterID: after, upToID: upTo, limit: 128)
                .map { (id: $0.id, name: $0.requestCID) }
        case .cidDirectory:
            return try engine.storedContent(afterID: after, upToID: upTo, limit: 128).map { (id: $0.id, name: $0.cid) }
        default:
            return []
        }
    }
}
