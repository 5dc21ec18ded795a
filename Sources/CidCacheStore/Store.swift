import CidCacheCore
import Foundation
import GRDB
import Glibc

/// The persistent store under a data directory: an SQLite index (GRDB, WAL)
/// of entries, stored bytes and engine state, and the bytes themselves as
/// files named by their CID under `blobs/`, each written to `tmp/` first and
/// renamed into place, so no reader ever sees half a file.
public final class Store: Sendable {
    public let directory: String
    let database: DatabasePool

    /// Opens (creating when needed) the store in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        for folder in [directory, directory + "/blobs", directory + "/tmp"] {
            try Self.makePrivateDirectory(folder)
        }
        Self.clearTemporaryFiles(directory + "/tmp")
        let path = directory + "/index.sqlite"
        if !FileManager.default.fileExists(atPath: path) {
            // Created 0600 before SQLite opens it; the -wal and -shm files inherit its mode.
            close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600))
        }
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        configuration.busyMode = .timeout(10)
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw CacheError(.io, "cannot open the index \(path): \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE entries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    request_cid TEXT NOT NULL, upstream TEXT NOT NULL,
                    namespace TEXT NOT NULL, op TEXT NOT NULL,
                    content_cid TEXT NOT NULL, size INTEGER NOT NULL,
                    fetched INTEGER NOT NULL, expires INTEGER NOT NULL, ttl INTEGER NOT NULL,
                    hits INTEGER NOT NULL DEFAULT 0, last_access INTEGER NOT NULL,
                    tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
                    fetch_ms INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (request_cid, upstream));
                CREATE INDEX entries_by_operation ON entries (namespace, op, upstream, id);
                CREATE INDEX entries_by_content ON entries (content_cid);
                CREATE INDEX entries_by_expiry ON entries (expires);
                CREATE INDEX entries_by_access ON entries (last_access);
                CREATE TABLE blobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    cid TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
                    kind TEXT NOT NULL, created INTEGER NOT NULL);
                CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
                """)
        }
        return migrator
    }

    static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CacheError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Files left in tmp/ by a crash were never renamed into place: drop them.
    static func clearTemporaryFiles(_ folder: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            unlink(folder + "/" + name)
        }
    }

    /// Runs a read, mapping database failures to EIO.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try database.read(body) } catch { throw CacheError(.io, "index read failed: \(error)") }
    }

    /// Runs a write transaction, mapping database failures to EIO (ENOSPC when the disk is full).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.write(body)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw CacheError(.noSpace, "the disk is full")
        } catch {
            throw CacheError(.io, "index write failed: \(error)")
        }
    }

    // MARK: Engine state

    /// A value the engine keeps across restarts (its statistics).
    public func loadState(_ key: String) throws -> [UInt8]? {
        try read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT value FROM state WHERE key = ?"), arguments: [key])
                .map { [UInt8]($0["value"] as Data) }
        }
    }

    public func saveState(_ key: String, _ value: [UInt8]) throws {
        try write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)")
                .execute(arguments: [key, Data(value)])
        }
    }

    /// The store's 32-byte secret (file `secret`, 0600), made once: the key of
    /// the keyed hashes that scope entries by credential.
    public func secret() throws -> [UInt8] {
        let path = directory + "/secret"
        if let existing = FileManager.default.contents(atPath: path), existing.count == 32 {
            return [UInt8](existing)
        }
        // SystemRandomNumberGenerator draws from the kernel's CSPRNG (getrandom).
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd < 0 {
            // Another process made it first: use theirs.
            if errno == EEXIST, let existing = FileManager.default.contents(atPath: path), existing.count == 32 {
                return [UInt8](existing)
            }
            throw CacheError(.io, "cannot write \(path)")
        }
        defer { close(fd) }
        guard Glibc.write(fd, bytes, 32) == 32, fsync(fd) == 0 else { throw CacheError(.io, "cannot write \(path)") }
        return bytes
    }

    /// SQLite's own integrity check of the index.
    public func integrityCheck() throws -> Bool {
        try read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok" }
    }
}
