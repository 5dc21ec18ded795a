import CidCacheCore
import CidCacheEngine
import Glibc

// MARK: Extended attributes

extension FileSystem {
    func getxattr(_ request: Request, inode: UInt64, name: String, size: Int) {
        let found: [(name: String, value: String)]?
        do { found = try xattrs(inode, pid: request.pid) } catch { return request.error(error.errno) }
        guard let attributes = found else { return request.error(ENOENT) }
        guard let value = attributes.first(where: { $0.name == name })?.value else { return request.error(ENODATA) }
        request.xattr(Array(value.utf8), size: size)
    }

    func listxattr(_ request: Request, inode: UInt64, size: Int) {
        let found: [(name: String, value: String)]?
        do { found = try xattrs(inode, pid: request.pid) } catch { return request.error(error.errno) }
        guard let attributes = found else { return request.error(ENOENT) }
        var names: [UInt8] = []
        for attribute in attributes { names += Array(attribute.name.utf8) + [0] }
        request.xattr(names, size: size)
    }

    /// The `user.cidcache.*` attributes of an entry or a sample (docs/REFERENCE.md §7), and of a query
    /// file the sample the calling process's last answer was; other files have none. Nil when the node
    /// is gone: an entry removed, expired or refetched since the kernel looked it up answers ENOENT (as
    /// getattr does), not ENODATA as if it had no attributes.
    private func xattrs(_ inode: UInt64, pid: Int32) throws(CacheError) -> [(name: String, value: String)]? {
        guard let node = nodes.node(inode) else { return nil }
        switch node {
        case .entry(let namespace, let op, let requestCID, let id):
            guard let entry = try engine.liveEntry(namespace: namespace, op: op, requestCID: requestCID), entry.id == id else { return nil }
            let samples = try engine.liveSamples(namespace: namespace, op: op, requestCID: requestCID)
            let asked = samples.map(\.samples).max() ?? 1
            return try entryAttributes(entry) + (asked > 1 ? [("user.cidcache.samples", "\(samples.count)/\(asked)")] : [])
        case .sample(let namespace, let op, let requestCID, let sample, let id):
            guard let entry = try liveSample(namespace: namespace, op: op, requestCID: requestCID, sample: sample),
                  entry.id == id else { return nil }
            return try entryAttributes(entry) + [("user.cidcache.sample", String(sample))]
        case .query:
            return querySamples.sample(queryInode: inode, pid: pid).map { [("user.cidcache.sample", String($0))] } ?? []
        default:
            return []
        }
    }

    private func entryAttributes(_ entry: EntryRecord) throws(CacheError) -> [(name: String, value: String)] {
        [
            ("user.cidcache.cid", entry.contentCID),
            ("user.cidcache.request", entry.requestCID),
            ("user.cidcache.upstream", entry.upstream),
            ("user.cidcache.expires", String(entry.expires)),
            ("user.cidcache.ttl", String(entry.ttl)),
            ("user.cidcache.hits", String(try engine.hits(of: entry))),
        ]
    }
}
