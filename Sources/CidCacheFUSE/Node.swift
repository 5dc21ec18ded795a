import Synchronization

/// Every kind of file and folder in the mount (docs/REFERENCE.md §3).
enum Node: Hashable, Sendable {
    case root
    case readme
    case cidDirectory
    /// `cid/<cid>`: stored bytes, a body or a key document, of `size` bytes
    /// (fixed by the CID, so it never changes what the node is).
    case content(cid: String, size: Int64)
    case apiDirectory
    case namespaceDirectory(String)
    case operationDirectory(namespace: String, op: String)
    case query(namespace: String, op: String)
    /// `api/<ns>/<op>/<request-cid>`; the entry id tells one fetch from the next,
    /// so a refetched entry is a new inode and no stale page is ever served.
    case entry(namespace: String, op: String, requestCID: String, id: Int64)
    /// `api/<ns>/<op>/<request-cid>.samples/`: the live samples of a sampled request.
    case samplesDirectory(namespace: String, op: String, requestCID: String)
    /// `api/<ns>/<op>/<request-cid>.samples/<i>`: one sample; its id tells one fetch from the next.
    case sample(namespace: String, op: String, requestCID: String, sample: Int, id: Int64)
    case statsDirectory
    case stats(name: String)
    case control
    case errors
    case log

    var isDirectory: Bool {
        switch self {
        case .root, .cidDirectory, .apiDirectory, .namespaceDirectory, .operationDirectory, .statsDirectory, .samplesDirectory:
            return true
        default: return false
        }
    }

    /// Whether the node lives only while something in the store backs it.
    var isDynamic: Bool {
        switch self {
        case .content, .entry, .samplesDirectory, .sample: return true
        default: return false
        }
    }
}

/// Inode numbers for nodes. Static nodes are numbered once at mount; dynamic
/// ones on lookup and dropped when the kernel forgets them. Numbers are never
/// reused within a mount.
final class NodeTable: Sendable {
    static let rootInode: UInt64 = 1

    private struct State {
        var nodes: [UInt64: (node: Node, lookups: UInt64)] = [:]
        var inodes: [Node: UInt64] = [:]
        var next: UInt64 = 2
    }
    private let state = Mutex(State())

    init(staticNodes: [Node]) {
        state.withLock { state in
            state.nodes[Self.rootInode] = (.root, 0)
            state.inodes[.root] = Self.rootInode
            for node in staticNodes where node != .root {
                state.nodes[state.next] = (node, 0)
                state.inodes[node] = state.next
                state.next += 1
            }
        }
    }

    func node(_ inode: UInt64) -> Node? {
        state.withLock { $0.nodes[inode]?.node }
    }

    /// The inode of a node already numbered: a static one, or one looked up and not forgotten.
    func inode(of node: Node) -> UInt64? {
        state.withLock { $0.inodes[node] }
    }

    /// The inode of a node the kernel is told about by a lookup (counted for forget).
    func lookUp(_ node: Node) -> UInt64 {
        state.withLock { state in
            if let inode = state.inodes[node] {
                if node.isDynamic { state.nodes[inode]!.lookups += 1 }
                return inode
            }
            let inode = state.next
            state.next += 1
            state.nodes[inode] = (node, 1)
            state.inodes[node] = inode
            return inode
        }
    }

    /// The kernel dropped `count` references to an inode.
    func forget(_ inode: UInt64, count: UInt64) {
        state.withLock { state in
            guard let record = state.nodes[inode], record.node.isDynamic else { return }
            if record.lookups <= count {
                state.nodes[inode] = nil
                state.inodes[record.node] = nil
            } else {
                state.nodes[inode]!.lookups = record.lookups - count
            }
        }
    }
}
