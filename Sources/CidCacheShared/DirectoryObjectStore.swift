import CidCacheUpstreams
public import NIOCore
import NIOPosix
import Synchronization

/// The shared tier's objects as files under a directory every machine mounts
/// (NFS, CephFS, Lustre, a CI runner's shared volume): `<root>/<key>`, the
/// bucket's keys as paths, published whole (`DirectoryFiles`). Calls run on
/// threads of the store's own, one set per direction, and are bounded by
/// their deadline even when the filesystem hangs: the caller stops waiting,
/// and a write that gets its turn after its deadline publishes nothing.
public final class DirectoryObjectStore: ObjectStore {
    private let files: DirectoryFiles
    private let reads = LazyThreadPool()
    private let writes = LazyThreadPool()
    /// The directories whose stale temporary files this process has had swept.
    private let swept = Mutex<Set<String>>([])

    /// Threads each direction's calls run on.
    static let threadsPerDirection = 4

    /// A store under `root`, an absolute path; the root itself is never created.
    public init(root: String) {
        var root = root
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        files = DirectoryFiles(root: root == "/" ? "" : root)
    }

    public func get(_ key: String, limit: Int, direction: ObjectStoreDirection,
                    deadline: NIODeadline) async throws(ObjectStoreError) -> StoredObject {
        let files = self.files
        return try await run(on: direction == .read ? reads : writes, "read \(key)", until: deadline) { () throws(ObjectStoreError) in
            try files.read(key, limit: limit)
        }
    }

    public func put(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
                    deadline: NIODeadline) async throws(ObjectStoreError) {
        let files = self.files
        sweepOnce(directoryOf: key)
        try await run(on: writes, "write \(key)", until: deadline) { () throws(ObjectStoreError) in
            try files.publish(key, bytes, condition: condition, deadline: deadline)
        }
    }

    /// Stops the threads without waiting for one a hung filesystem holds.
    public func shutdown() async {
        reads.shutdown()
        writes.shutdown()
    }

    /// On this process's first write into a directory, queues the removal of
    /// the temporary files killed writers left there, behind the writes.
    private func sweepOnce(directoryOf key: String) {
        let directory = key.split(separator: "/").dropLast().joined(separator: "/")
        guard swept.withLock({ $0.insert(directory).inserted }) else { return }
        let files = self.files
        writes.pool.submit { state in
            if case .active = state { files.sweep(directoryOf: key) }
        }
    }

    private func run<T: Sendable>(on threads: LazyThreadPool, _ what: String, until deadline: NIODeadline,
                                  _ work: @escaping @Sendable () throws(ObjectStoreError) -> T) async throws(ObjectStoreError) -> T {
        let pool = threads.pool
        let outcome = await Deadline.race(deadline, on: MultiThreadedEventLoopGroup.singleton.next()) {
            try await pool.runIfActive { try work() }
        }
        switch outcome {
        case .success(let value): return value
        case .failure(let error as ObjectStoreError): throw error
        case .failure(let error): throw .unavailable("\(what): \(error)")
        case nil: throw .unavailable("\(what): no answer in time")
        }
    }
}

/// `threadsPerDirection` threads started on first use (a machine that never
/// asks the store starts none), stopped without waiting for one a hung filesystem holds.
private final class LazyThreadPool: Sendable {
    private let started = Mutex<NIOThreadPool?>(nil)

    var pool: NIOThreadPool {
        started.withLock { started in
            if let started { return started }
            let made = NIOThreadPool(numberOfThreads: DirectoryObjectStore.threadsPerDirection)
            made.start()
            started = made
            return made
        }
    }

    func shutdown() {
        started.withLock { started in defer { started = nil }; return started }?.shutdownGracefully { @Sendable _ in }
    }
}
