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
            case .operationDirectory, .samplesDirectory: snapshot = try engine.listingBound(ofEntries: true)
            default: break
            }
        } catch {
            return request.error(error.errno)
        }
        request.openDirectory(snapshot: UInt64(snapshot))
    }

    /// Lists a folder from `offset` (see `DirectoryListing` for the offsets):
    /// `.` and `..`, static children (or `query`), then paged rows up to the
    /// snapshot taken at opendir.
    func readdir(_ request: Request, inode: UInt64, size: Int, offset: Int64, snapshot: Int64) {
        guard let node = nodes.node(inode) else { return request.error(ENOENT) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        var used = 0
        func add(_ entry: DirectoryListing.Entry, next: Int64) -> Bool {
            var st = stat()
            st.st_ino = UInt(entry.inode)
            st.st_mode = mode_t(entry.directory ? FileType.directory : FileType.regular)
            let needed = fuse_add_direntry(request.raw, nil, 0, entry.name, nil, 0)
            guard used + needed <= size else { return false }
            _ = fuse_add_direntry(request.raw, buffer.advanced(by: used).assumingMemoryBound(to: CChar.self),
                                  size - used, entry.name, &st, off_t(next))
            used += needed
            return true
        }
        var fixed = [DirectoryListing.Entry(name: ".", inode: inode, directory: true),
                     DirectoryListing.Entry(name: "..", inode: NodeTable.rootInode, directory: true)]
        var paged = false
        switch node {
        case .operationDirectory(let namespace, let op):
            fixed.append(.init(name: "query", inode: nodes.inode(of: .query(namespace: namespace, op: op)) ?? 0, directory: false))
            paged = true
        case .cidDirectory, .samplesDirectory:
            paged = true
        default:
            for child in children(of: node) {
                fixed.append(.init(name: child.name, inode: nodes.inode(of: child.node) ?? 0, directory: child.node.isDirectory))
            }
        }
        do {
            try DirectoryListing(fixed: fixed, paged: paged).list(from: offset, page: { after throws(CacheError) in
                try self.page(of: node, after: after, upTo: snapshot)
            }, add: add)
        } catch {
            return request.error(error.errno)
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
        case .samplesDirectory(let namespace, let op, let requestCID):
            return try samplesPage(namespace: namespace, op: op, requestCID: requestCID, after: after, upTo: upTo)
        default:
            return []
        }
    }
}
