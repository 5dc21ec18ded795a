import CFuse
import CidCacheCore
import CidCacheEngine
import Foundation
import Glibc

/// The mount's file operations, each translated into engine calls (docs/REFERENCE.md §3).
/// Handlers that only touch local state reply at once; reads that wait for an
/// upstream are answered from tasks so no kernel thread is held.
final class FileSystem: Sendable {
    let engine: CacheEngine
    let nodes: NodeTable
    let notifier = KernelNotifier()
    /// Every reply made after its callback returned goes through here.
    let gate = ReplyGate<Request>()
    /// The sample of each process's last answer from a query file.
    let querySamples = QuerySamples()
    private let readme: [UInt8]
    private let mountTime = timespec(tv_sec: time(nil), tv_nsec: 0)
    private let owner = (uid: getuid(), gid: getgid())

    /// Kernel cache time for what never changes: folders, README, cid/ files.
    static let immutableTimeout = 86_400.0
    /// Cap on an entry's kernel cache time; it is also never past the entry's expiry.
    static let entryTimeoutCap = 3600.0
    static let rootNames = ["README", "cid", "api", "stats", "ctl", "errors", "log"]

    init(engine: CacheEngine) {
        self.engine = engine
        readme = MountReadme.text(for: engine)
        var statics: [Node] = [.root, .readme, .cidDirectory, .apiDirectory, .statsDirectory, .control, .errors, .log]
        for namespace in engine.namespaceNames {
            statics.append(.namespaceDirectory(namespace))
            for op in engine.namespaces[namespace]!.operations {
                statics += [.operationDirectory(namespace: namespace, op: op), .query(namespace: namespace, op: op)]
            }
        }
        statics += statsNames(engine).map { Node.stats(name: $0) }
        nodes = NodeTable(staticNodes: statics)
        engine.setRemovalObserver { [nodes, notifier] entry in
            for (parent, name) in Self.removedNames(entry, nodes: nodes) { notifier.invalidate(parent: parent, name: name) }
        }
    }

    // MARK: Names

    private static func rootChild(named name: String) -> Node? {
        switch name {
        case "README": return .readme
        case "cid": return .cidDirectory
        case "api": return .apiDirectory
        case "stats": return .statsDirectory
        case "ctl": return .control
        case "errors": return .errors
        case "log": return .log
        default: return nil
        }
    }

    /// The child named `name`; nil when there is none, EIO (logged) when the index cannot tell.
    private func child(of parent: Node, named name: String) throws(CacheError) -> Node? {
        switch parent {
        case .root:
            return Self.rootChild(named: name)
        case .cidDirectory:
            guard CID(name) != nil, let size = try engine.contentSize(cid: name) else { return nil }
            return .content(cid: name, size: size)
        case .apiDirectory:
            return engine.namespaces[name] != nil ? .namespaceDirectory(name) : nil
        case .namespaceDirectory(let namespace):
            return engine.hasOperation(namespace: namespace, op: name) ? .operationDirectory(namespace: namespace, op: name) : nil
        case .operationDirectory(let namespace, let op):
            if name == "query" { return .query(namespace: namespace, op: op) }
            if let folder = try samplesDirectory(namespace: namespace, op: op, named: name) { return folder }
            guard CID(name) != nil, let entry = try engine.liveEntry(namespace: namespace, op: op, requestCID: name) else { return nil }
            return .entry(namespace: namespace, op: op, requestCID: name, id: entry.id)
        case .statsDirectory:
            return statsNames(engine).contains(name) ? .stats(name: name) : nil
        case .samplesDirectory(let namespace, let op, let requestCID):
            return try sampleFile(namespace: namespace, op: op, requestCID: requestCID, named: name)
        default:
            return nil
        }
    }

    func children(of node: Node) -> [(name: String, node: Node)] {
        switch node {
        case .root:
            return Self.rootNames.compactMap { name in Self.rootChild(named: name).map { (name, $0) } }
        case .apiDirectory:
            return engine.namespaceNames.map { ($0, .namespaceDirectory($0)) }
        case .namespaceDirectory(let namespace):
            return engine.namespaces[namespace]!.operations.map { ($0, .operationDirectory(namespace: namespace, op: $0)) }
        case .statsDirectory:
            return statsNames(engine).map { ($0, .stats(name: $0)) }
        default:
            return []
        }
    }

    // MARK: Attributes

    /// A node's attributes and how long the kernel may keep them; nil when it
    /// is gone. Throws when the index cannot tell.
    /// - Parameter justFound: the node was looked up in this same request, so it exists.
    private func attributes(_ node: Node, inode: UInt64, justFound: Bool = false) throws(CacheError) -> (stat: stat, timeout: Double)? {
        var st = stat()
        st.st_ino = UInt(inode)
        st.st_uid = owner.uid
        st.st_gid = owner.gid
        st.st_nlink = 1
        st.st_blksize = 4096
        st.st_mtim = mountTime
        st.st_ctim = mountTime
        st.st_atim = mountTime
        var timeout = 0.0
        func file(_ mode: Int32, size: Int64) {
            st.st_mode = mode_t(FileType.regular | mode)
            st.st_size = Int(size)
            st.st_blocks = Int((size + 511) / 512)
        }
        switch node {
        case .root, .cidDirectory, .apiDirectory, .namespaceDirectory, .operationDirectory, .statsDirectory:
            st.st_mode = mode_t(FileType.directory | 0o555)
            st.st_nlink = 2
            st.st_size = 4096
            timeout = Self.immutableTimeout
        case .readme:
            file(0o444, size: Int64(readme.count))
            timeout = Self.immutableTimeout
        case .content(let cid, let foundSize):
            let size = justFound ? foundSize : try engine.contentSize(cid: cid)  // still stored?
            guard let size else { return nil }
            file(0o444, size: size)
            timeout = Self.immutableTimeout
        case .samplesDirectory(let namespace, let op, let requestCID):
            if !justFound, try engine.liveSamples(namespace: namespace, op: op, requestCID: requestCID).isEmpty { return nil }
            st.st_mode = mode_t(FileType.directory | 0o555)
            st.st_nlink = 2
            st.st_size = 4096
        case .entry, .sample:
            guard let entry = try liveRecord(node) else { return nil }
            file(0o444, size: entry.size)
            let fetched = timespec(tv_sec: Int(entry.fetched), tv_nsec: 0)
            st.st_mtim = fetched
            st.st_ctim = fetched
            timeout = min(Self.entryTimeoutCap, Double(entry.expires) - Date().timeIntervalSince1970)
        case .query:
            file(0o600, size: 0)
        case .stats(let name):
            file(0o444, size: Int64(statsBytes(name).count))
        case .control:
            file(0o200, size: 0)
        case .errors:
            file(0o444, size: engine.errorLog.size)
        case .log:
            file(0o444, size: engine.transactionLog.size)
        }
        return (st, max(0, timeout))
    }

    private func statsBytes(_ name: String) -> [UInt8] {
        if name == "metrics.prom" { return engine.metricsFile() }
        if name == "all.json" { return engine.statsFile(namespace: nil) }
        return engine.statsFile(namespace: String(name.dropLast(".json".count)))
    }

    // MARK: Handlers

    func lookup(_ request: Request, parent: UInt64, name: String) {
        guard let parentNode = nodes.node(parent) else { return request.error(ENOENT) }
        let node: Node?, attributes: (stat: stat, timeout: Double)?
        do {
            node = try child(of: parentNode, named: name)
            if let node { attributes = try self.attributes(node, inode: 0, justFound: true) } else { attributes = nil }
        } catch {
            return request.error(error.errno)
        }
        guard let node, var st = attributes?.stat, let timeout = attributes?.timeout else { return request.error(ENOENT) }
        let inode = nodes.lookUp(node)
        st.st_ino = UInt(inode)
        // Files whose content changes keep their name cached but never their attributes.
        let entryTimeout = node.isDynamic || node.isDirectory || node == .readme ? timeout : Self.immutableTimeout
        var param = fuse_entry_param()
        param.ino = inode
        param.attr = st
        param.attr_timeout = timeout
        param.entry_timeout = entryTimeout
        fuse_reply_entry(request.raw, &param)
    }

    func forget(_ inode: UInt64, count: UInt64) {
        nodes.forget(inode, count: count)
    }

    func getattr(_ request: Request, inode: UInt64) {
        guard let node = nodes.node(inode) else { return request.error(ENOENT) }
        let found: (stat: stat, timeout: Double)?
        do { found = try attributes(node, inode: inode) } catch { return request.error(error.errno) }
        guard let (st, timeout) = found else { return request.error(ENOENT) }
        request.attributes(st, timeout: timeout)
    }

    /// Only truncation of the write targets is allowed (what `>` in a shell asks for).
    func setattr(_ request: Request, inode: UInt64, toSet: Int32, size: Int) {
        guard let node = nodes.node(inode) else { return request.error(ENOENT) }
        let truncation = toSet & ~Int32(FUSE_SET_ATTR_SIZE) == 0 && size == 0
        if truncation && (node == .control || { if case .query = node { return true }; return false }()) {
            getattr(request, inode: inode)
        } else {
            request.error(EACCES)
        }
    }

    func open(_ request: Request, inode: UInt64, flags: Int32) {
        guard let node = nodes.node(inode) else { return request.error(ENOENT) }
        let access = flags & O_ACCMODE
        switch node {
        case .query(let namespace, let op):
            guard access == O_RDWR else { return request.error(EINVAL) }
            let transaction = QueryTransaction(namespace: namespace, op: op, engine: engine, gate: gate) { [querySamples] answer, pid in
                querySamples.note(answer.sample, queryInode: inode, pid: pid)
            }
            // close() ends nothing here (the last release does), so spare the caller a FLUSH round trip.
            request.open(OpenHandle(.query(transaction)), directIO: true, keepCache: false, nonSeekable: true, noFlush: true)
        case .control:
            guard access == O_WRONLY else { return request.error(EACCES) }
            request.open(OpenHandle(.control(ControlWriter(engine: engine))), directIO: true, keepCache: false)
        case _ where access != O_RDONLY:
            request.error(node.isDirectory ? EISDIR : EACCES)
        case .readme:
            request.open(OpenHandle(.snapshot(readme)), directIO: false, keepCache: true, noFlush: true)
        case .stats(let name):
            request.open(OpenHandle(.snapshot(statsBytes(name))), directIO: true, keepCache: false, noFlush: true)
        case .errors, .log:
            let path = node == .errors ? engine.errorLog.path : engine.transactionLog.path
            openLogFile(request, path: path)
        case .content(let cid, let size):
            openStoredBytes(request, cid: cid, size: size)
        case .entry, .sample:
            let entry: EntryRecord?
            do { entry = try liveRecord(node) } catch { return request.error(error.errno) }
            guard let entry else { return request.error(ENOENT) }
            engine.recordHit(entry)
            openStoredBytes(request, cid: entry.contentCID, size: entry.size)
        default:
            request.error(EISDIR)
        }
    }

    /// The live record behind an entry or sample file, while it is the fetch the kernel looked up; nil otherwise.
    private func liveRecord(_ node: Node) throws(CacheError) -> EntryRecord? {
        switch node {
        case .entry(let namespace, let op, let requestCID, let id):
            return try engine.liveEntry(namespace: namespace, op: op, requestCID: requestCID).flatMap { $0.id == id ? $0 : nil }
        case .sample(let namespace, let op, let requestCID, let sample, let id):
            return try liveSample(namespace: namespace, op: op, requestCID: requestCID, sample: sample).flatMap { $0.id == id ? $0 : nil }
        default:
            return nil
        }
    }

    /// Bodies never change under a name: kept in the page cache, read
    /// through the engine's `StoredBytes` as a query file's hit is.
    private func openStoredBytes(_ request: Request, cid: String, size: Int64) {
        let stored: StoredBytes?
        do { stored = try engine.openContent(cid: cid, size: size) } catch { return request.error(error.errno) }
        guard let stored else { return request.error(ENOENT) }
        request.open(OpenHandle(.stored(stored)), directIO: false, keepCache: true, noFlush: true)
    }

    /// `errors` and `log` grow while open: read past the page cache, at the kernel's offsets.
    private func openLogFile(_ request: Request, path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return request.error(errno == ENOENT ? ENOENT : EIO) }
        request.open(OpenHandle(.file(fd: fd)), directIO: true, keepCache: false, noFlush: true)
    }

    func read(_ request: Request, handle: UInt64, size: Int, offset: Int64) {
        guard let open = OpenHandle.borrow(handle) else { return request.error(EBADF) }
        switch open.kind {
        case .file(let fd):
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
            defer { buffer.deallocate() }
            let count = pread(fd, buffer.baseAddress, size, off_t(offset))
            if count < 0 { return request.error(EIO) }
            request.bytes(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        case .snapshot(let bytes):
            request.bytes(bytes, from: offset, size: size)
        case .stored(let stored):
            do {
                // Removed between the open and this read: gone, as for a new open.
                guard let bytes = try stored.read(at: Int(offset), count: size) else { return request.error(ENOENT) }
                bytes.withUnsafeBytes { request.bytes($0) }
            } catch {
                request.error(error.errno)
            }
        case .query(let transaction):
            transaction.read(request, size: size)
        case .control:
            request.error(EBADF)
        }
    }

    func write(_ request: Request, handle: UInt64, bytes: UnsafeRawBufferPointer) {
        guard let open = OpenHandle.borrow(handle) else { return request.error(EBADF) }
        switch open.kind {
        case .query(let transaction):
            transaction.write(request, bytes: bytes)
        case .control(let writer):
            let failure = writer.write(bytes, pid: request.pid), count = bytes.count
            replyAfterNotifications(request) { if let failure { $0.error(failure) } else { $0.written(count) } }
        default:
            request.error(EBADF)
        }
    }

    /// Closing a copy of an fd never ends a query transaction; for `ctl` it runs
    /// a last line left without its newline.
    func flush(_ request: Request, handle: UInt64) {
        guard let open = OpenHandle.borrow(handle), case .control(let writer) = open.kind else { return request.error(0) }
        let failure = writer.close(pid: request.pid)
        replyAfterNotifications(request) { $0.error(failure ?? 0) }
    }

    /// Replies once the kernel notifications queued so far are sent (at once
    /// when the mount is stopping: nothing waits behind the gate then).
    private func replyAfterNotifications(_ request: Request, _ body: @escaping @Sendable (Request) -> Void) {
        guard let parked = gate.park(request) else { return body(request) }
        notifier.afterPending { [gate] in gate.reply(parked, body) }
    }

    func release(_ request: Request, handle: UInt64) {
        if let open = OpenHandle.release(handle), case .query(let transaction) = open.kind { transaction.release() }
        request.error(0)
    }

    // MARK: Removal

    func unlink(_ request: Request, parent: UInt64, name: String) {
        guard let node = nodes.node(parent) else { return request.error(ENOENT) }
        switch node {
        case .operationDirectory(let namespace, let op):
            // At once: the kernel holds this folder while it waits, so waiting for notifications (its
            // other samples' names) could wait for a notification about this same folder.
            do { request.error(try engine.invalidate(namespace: namespace, op: op, requestCID: name) ? 0 : ENOENT) }
            catch { request.error(error.errno) }
        case .cidDirectory:
            let result = removeContent(named: name)
            replyAfterNotifications(request) { $0.error(result) }
        default:
            do { request.error(try child(of: node, named: name) == nil ? ENOENT : EACCES) } catch { request.error(error.errno) }
        }
    }

    /// `rm cid/<name>`: 0, ENOENT when nothing is stored under it, or the index's failure.
    private func removeContent(named name: String) -> Int32 {
        guard CID(name) != nil else { return ENOENT }
        do { return try engine.removeContent(cid: name) ? 0 : ENOENT } catch { return error.errno }
    }
}

/// File type bits of st_mode (Glibc's and libfuse's headers both export S_IF*).
enum FileType {
    static let directory: Int32 = 0o040000
    static let regular: Int32 = 0o100000
}

/// The files of `stats/`: one per namespace, all.json and metrics.prom.
func statsNames(_ engine: CacheEngine) -> [String] {
    ["all.json"] + engine.namespaceNames.map { $0 + ".json" } + ["metrics.prom"]
}
