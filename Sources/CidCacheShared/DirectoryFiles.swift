import CidCacheCore
import Glibc
import NIOCore

/// The directory store's file operations: plain system calls, run on the
/// store's own threads (on a network filesystem any of them may block).
///
/// An object is the file `<root>/<key>`, and only ever appears whole: it is
/// written under a temporary name in its own directory (`.<name>.<random>.tmp`,
/// a name no key has), fsynced, then published under the directory's lock
/// (`flock` on its `.lock` file) with `link(2)` when it must be absent (EEXIST:
/// the condition failed) or `rename(2)` over the object of the ETag read
/// under that lock; then the directory is fsynced. The ETag is the SHA-256 of
/// the content, which no inode reuse or coarse timestamp on a network
/// filesystem can fake. A killed writer leaves only a temporary file, which
/// no reader opens and `sweep` removes once it is old.
struct DirectoryFiles: Sendable {
    /// The directory the keys are paths under.
    let root: String

    /// A temporary file this old was left by a writer that died: nothing
    /// publishes one that long (an upload's bound is `upload_timeout_ms`).
    static let staleTemporarySeconds = 3600
    /// The file each directory's publishers lock.
    static let lockName = ".lock"
    static let temporarySuffix = ".tmp"

    /// The object at `key`, of at most `limit` bytes.
    func read(_ key: String, limit: Int) throws(ObjectStoreError) -> StoredObject {
        let path = try self.path(key)
        // An object is a file, never a link planted to make this process read another.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            guard code == ENOENT else { throw Self.failure("read \(key)", code) }
            // No object, unless the directory itself is gone (a share not mounted).
            guard access(root.isEmpty ? "/" : root, F_OK) == 0 else { throw Self.failure("read \(root)", errno) }
            throw .notFound
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.failure("read \(key)", errno) }
        guard Int(info.st_size) <= limit else { throw .tooLarge("read \(key): larger than \(limit) bytes") }
        let bytes = try Self.readAll(fd, upTo: limit, what: "read \(key)")
        return StoredObject(bytes: bytes, etag: Self.etag(bytes))
    }

    /// Writes `bytes` at `key` if `condition` holds, publishing them whole; gives up
    /// before publishing once `deadline` has passed.
    func publish(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
                 deadline: NIODeadline) throws(ObjectStoreError) {
        let path = try self.path(key)
        let directory = Self.directory(of: path)
        try makeDirectories(directory)
        let temporary = directory + "/." + Self.name(of: path) + "." + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
            + Self.temporarySuffix
        defer { unlink(temporary) }  // after a link, or a failure; a rename leaves nothing to remove
        try Self.writeDurably(bytes, to: temporary, what: "write \(key)")
        try Self.withLock(directory + "/" + Self.lockName, until: deadline, what: "lock for \(key)") { () throws(ObjectStoreError) in
            switch condition {
            case .absent:
                guard Glibc.link(temporary, path) == 0 else {
                    throw errno == EEXIST ? .conditionFailed : Self.failure("link \(key)", errno)
                }
            case .matching(let etag):
                let standing: StoredObject
                do throws(ObjectStoreError) {
                    standing = try read(key, limit: .max)
                } catch {
                    throw error == .notFound ? .conditionFailed : error
                }
                guard standing.etag == etag else { throw .conditionFailed }
                guard Glibc.rename(temporary, path) == 0 else { throw Self.failure("rename \(key)", errno) }
            }
        }
        try Self.syncDirectory(directory, what: "publish \(key)")
    }

    /// Removes the temporary files in the directory of `key` that a writer left
    /// more than `staleTemporarySeconds` ago (one killed mid-publish).
    func sweep(directoryOf key: String) {
        guard let path = try? path(key) else { return }
        let directory = Self.directory(of: path)
        guard let listing = opendir(directory) else { return }
        defer { closedir(listing) }
        let oldest = time(nil) - Self.staleTemporarySeconds
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("."), name.hasSuffix(Self.temporarySuffix) else { continue }
            var info = stat()
            let file = directory + "/" + name
            if lstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mtim.tv_sec < oldest { unlink(file) }
        }
    }

    /// `<root>/<key>`, for a key whose parts are plain names and whose object's name does not start with a dot.
    private func path(_ key: String) throws(ObjectStoreError) -> String {
        let parts = key.split(separator: "/")
        guard let name = parts.last, !name.hasPrefix("."), !key.hasSuffix("/"),
              !parts.contains(where: { $0 == "." || $0 == ".." }), !key.utf8.contains(0) else {
            throw .refused("\(key): not a key this directory keeps")
        }
        return root + "/" + parts.joined(separator: "/")
    }

    /// Creates the directories from the root down to `directory` (never the root
    /// itself: a missing root is a share not mounted), each made durable in its parent.
    private func makeDirectories(_ directory: String) throws(ObjectStoreError) {
        var made = root
        for part in directory.dropFirst(root.count).split(separator: "/") {
            let parent = made
            made += "/" + part
            if mkdir(made, 0o777) == 0 {
                try Self.syncDirectory(parent, what: "mkdir \(made)")
            } else if errno != EEXIST {
                throw Self.failure("mkdir \(made)", errno)
            }
        }
    }

    private static func directory(of path: String) -> String {
        String(path[..<path.lastIndex(of: "/")!])
    }

    private static func name(of path: String) -> String {
        String(path[path.index(after: path.lastIndex(of: "/")!)...])
    }

    static func etag(_ bytes: [UInt8]) -> String {
        "sha256:" + Hex.encode(SHA256.hash(bytes))
    }

    /// A new file at `path` holding `bytes`, on stable storage before this returns.
    private static func writeDurably(_ bytes: [UInt8], to path: String, what: String) throws(ObjectStoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw failure(what, errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let code = errno
                close(fd)
                throw failure(what, code)
            }
            written += n
        }
        let synced = fsync(fd) == 0 ? 0 : errno
        // A network filesystem may report a failed write only at close.
        guard close(fd) == 0, synced == 0 else { throw failure(what, synced != 0 ? synced : errno) }
    }

    /// The file's bytes, to its end, of at most `limit`.
    private static func readAll(_ fd: Int32, upTo limit: Int, what: String) throws(ObjectStoreError) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw failure(what, errno) }
            if n == 0 { return bytes }
            guard n <= limit - bytes.count else { throw .tooLarge("\(what): larger than \(limit) bytes") }
            bytes += buffer[0..<n]
        }
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath` (made if missing),
    /// asked for again and again until `deadline`, so no thread waits on it past its bound.
    private static func withLock(_ lockPath: String, until deadline: NIODeadline, what: String,
                                 _ body: () throws(ObjectStoreError) -> Void) throws(ObjectStoreError) {
        // Read-write: over NFS, flock is a POSIX lock, and an exclusive one needs a descriptor open for writing.
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw failure(what, errno) }
        defer { close(fd) }  // closing releases the lock
        var pause: UInt32 = 1_000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else { throw failure(what, code) }
            guard NIODeadline.now() < deadline else { throw .unavailable("\(what): held by another writer past the deadline") }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
        guard NIODeadline.now() < deadline else { throw .unavailable("\(what): no answer in time") }
        try body()
    }

    /// fsync of a directory, so the names just made in it last; a filesystem
    /// that cannot (EINVAL) syncs its directories on its own.
    private static func syncDirectory(_ directory: String, what: String) throws(ObjectStoreError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(what, errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL else { throw failure(what, errno) }
    }

    /// A system call's failure: refused when the filesystem will not (permissions,
    /// read-only, no locks, no hard links), unavailable when it cannot now (I/O, space, a stale handle).
    static func failure(_ what: String, _ code: Int32) -> ObjectStoreError {
        let why = "\(what): \(String(cString: strerror(code)))"
        switch code {
        case EACCES, EPERM, EROFS, ENOLCK, ENOTSUP, EISDIR, ENOTDIR, ELOOP, ENAMETOOLONG, EMLINK, EXDEV: return .refused(why)
        default: return .unavailable(why)
        }
    }
}
