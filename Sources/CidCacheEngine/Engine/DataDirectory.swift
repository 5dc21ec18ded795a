import CidCacheStore

// The store's records that the engine's API hands out (`Answer.entry`, entry
// and content listings, the removal observer, the lock and `verify`'s report)
// are re-exported, and only those, so a front imports the engine alone and
// never reaches into the store.
@_exported import struct CidCacheStore.BlobRecord
@_exported import struct CidCacheStore.EntryRecord
@_exported import class CidCacheStore.StoreLock
@_exported import struct CidCacheStore.VerifyReport

/// A data directory as a front handles it without an engine: its lock and its repair.
public enum DataDirectory {
    /// Takes the directory's exclusive lock without waiting (one process runs
    /// the engine on a store at a time); `.busy` when another process holds it.
    public static func lock(_ directory: String) throws -> StoreLock {
        try Store.lockDirectory(directory)
    }

    /// Checks every stored byte against its CID and every entry against its
    /// bytes, dropping what is wrong or orphaned (`cidcache verify`). The
    /// caller holds the lock.
    public static func verify(_ directory: String) throws -> VerifyReport {
        try Store(directory: directory).verify()
    }
}
