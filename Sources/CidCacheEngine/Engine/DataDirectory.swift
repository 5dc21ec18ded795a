public import CidCacheCore
import CidCacheStore

/// A data directory as a front handles it without an engine: its lock and its repair.
public enum DataDirectory {
    /// Takes the directory's exclusive lock without waiting (one process runs
    /// the engine on a store at a time); `.busy` when another process holds it.
    public static func lock(_ directory: String) throws -> Lock {
        Lock(held: try Store.lockDirectory(directory))
    }

    /// An exclusive hold on a data directory, given up by `release()`, at
    /// deinit or at process exit.
    public final class Lock: Sendable {
        private let held: StoreLock

        init(held: StoreLock) { self.held = held }

        /// Gives the hold up; later calls do nothing.
        public func release() { held.release() }
    }

    /// Checks every stored byte against its CID and every entry against its
    /// bytes, dropping what is wrong or orphaned (`cidcache verify`). The
    /// caller holds the lock.
    public static func verify(_ directory: String) throws -> VerifyReport {
        try Store(directory: directory).verify()
    }
}
