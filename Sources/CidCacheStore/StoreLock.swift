import CidCacheCore
import Glibc
import Synchronization

/// An exclusive hold on a data directory (flock on `<dir>/lock`): one process
/// runs the engine on a store at a time.
public final class StoreLock: Sendable {
    private let fd: Mutex<Int32>

    init(fd: Int32) { self.fd = Mutex(fd) }

    deinit { release() }

    /// Gives the hold up (also done at deinit and process exit); later calls do nothing.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }
}

extension Store {
    /// Takes the store's lock without waiting; EBUSY when another process holds it.
    public static func lockDirectory(_ directory: String) throws -> StoreLock {
        let fd = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CacheError(.io, "cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw CacheError(.busy, "store \(directory) in use by another process")
        }
        return StoreLock(fd: fd)
    }
}
