import CidCacheCore
import CidCacheEngine
import Synchronization

/// The samples of sampled requests in the tree (docs/REFERENCE.md §3, §7.1): the folder
/// `api/<ns>/<op>/<request-cid>.samples/` and its files, and which sample a query file answered.
extension FileSystem {
    static let samplesSuffix = ".samples"

    /// `<request-cid>.samples` in an operation's folder, while the request has a live sample.
    func samplesDirectory(namespace: String, op: String, named name: String) throws(CacheError) -> Node? {
        guard name.hasSuffix(Self.samplesSuffix) else { return nil }
        let requestCID = String(name.dropLast(Self.samplesSuffix.count))
        guard CID(requestCID) != nil, try !engine.liveSamples(namespace: namespace, op: op, requestCID: requestCID).isEmpty else {
            return nil
        }
        return .samplesDirectory(namespace: namespace, op: op, requestCID: requestCID)
    }

    /// The file of sample `name` (its index, in decimal) in a request's samples folder, while it is live.
    func sampleFile(namespace: String, op: String, requestCID: String, named name: String) throws(CacheError) -> Node? {
        guard let index = Int(name), String(index) == name,
              let sample = try liveSample(namespace: namespace, op: op, requestCID: requestCID, sample: index) else { return nil }
        return .sample(namespace: namespace, op: op, requestCID: requestCID, sample: index, id: sample.id)
    }

    /// One live sample of a request; nil when it is not stored or not live.
    func liveSample(namespace: String, op: String, requestCID: String, sample: Int) throws(CacheError) -> EntryRecord? {
        try engine.liveSamples(namespace: namespace, op: op, requestCID: requestCID).first { $0.sample == sample }
    }

    /// A page of a samples folder: its live samples by row id, named by their index.
    func samplesPage(namespace: String, op: String, requestCID: String, after: Int64, upTo: Int64) throws(CacheError)
        -> [(id: Int64, name: String)] {
        try engine.liveSamples(namespace: namespace, op: op, requestCID: requestCID)
            .filter { $0.id > after && $0.id <= upTo }.sorted { $0.id < $1.id }.map { (id: $0.id, name: String($0.sample)) }
    }

    /// The folders the kernel may keep a removed entry's name in: its operation's folder (sample 0), and
    /// its request's samples folder when the kernel looked that up.
    static func removedNames(_ entry: EntryRecord, nodes: NodeTable) -> [(parent: UInt64, name: String)] {
        var names: [(parent: UInt64, name: String)] = []
        if entry.sample == 0, let parent = nodes.inode(of: .operationDirectory(namespace: entry.namespace, op: entry.op)) {
            names.append((parent, entry.requestCID))
        }
        if let folder = nodes.inode(of: .samplesDirectory(namespace: entry.namespace, op: entry.op, requestCID: entry.requestCID)) {
            names.append((folder, String(entry.sample)))
        }
        return names
    }
}

/// Which sample each process's last answer from a query file was (`user.cidcache.sample` on the
/// query file): an xattr call names the file and the process, not the open file.
final class QuerySamples: Sendable {
    private struct Key: Hashable {
        let queryInode: UInt64
        let pid: Int32
    }
    private let samples = Mutex<[Key: Int]>([:])
    /// Processes remembered at most; past it the memory starts over.
    private static let capacity = 4096

    /// Remembers the sample of an answer (nil: not a sampled request's, which forgets the earlier one).
    func note(_ sample: Int?, queryInode: UInt64, pid: Int32) {
        samples.withLock { samples in
            if sample != nil, samples.count >= Self.capacity { samples.removeAll(keepingCapacity: true) }
            samples[Key(queryInode: queryInode, pid: pid)] = sample
        }
    }

    /// The sample of the process's last answer from the query file, when it was a sampled request's.
    func sample(queryInode: UInt64, pid: Int32) -> Int? {
        samples.withLock { $0[Key(queryInode: queryInode, pid: pid)] }
    }
}
