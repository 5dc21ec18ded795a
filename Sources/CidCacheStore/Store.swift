import CidCacheCore
import Foundation
import GRDB
import Glibc

/// The persistent store under a data directory: an SQLite index (GRDB, WAL)
/// of entries, stored bytes and engine state. Small bytes (most chat answers
/// and every key document) live in the index itself; larger ones are files
/// named by their CID under `blobs/`, each written to `tmp/` first and renamed
/// into place, so no reader ever sees half a file.
public final class Store: Sendable {
    /// The data directory the store lives in.
    public let directory: String
    /// Bytes up to this size are kept in the index rather than in a file of
    /// their own: creating and syncing a file cost more than the rest of a miss.
    public let inlineLimit: Int
    public static let defaultInlineLimit = 16 * 1024
    let database: DatabasePool

    /// Opens (creating when needed) the store in `directory`.
    public init(directory: String, inlineLimit: Int = Store.defaultInlineLimit) throws {
        self.directory = directory
        self.inlineLimit = inlineLimit
        for folder in [directory, directory + "/blobs", directory + "/tmp"] {
            try Self.makePrivateDirectory(folder)
        }
        Self.clearLeftoverFiles(directory + "/tmp")
        let path = directory + "/index.sqlite"
        // Created 0600 before SQLite opens it; SQLite gives the -wal and -shm files its mode.
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)
            close(fd)
        } else if errno != EEXIST {
            throw CacheError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
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

    static var migrator: DatabaseMigrator {
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
        migrator.registerMigration("v2: small bytes in the index") { db in
            // NULL: the bytes are in their file under blobs/.
            try db.execute(sql: "ALTER TABLE blobs ADD COLUMN inline BLOB")
        }
        migrator.registerMigration("v3: blob totals from an index") { db in
            // Counting and summing the sizes scans this instead of every row with its bytes.
            try db.execute(sql: "CREATE INDEX blobs_by_size ON blobs (size)")
        }
        migrator.registerMigration("v4: the answer's content type") { db in
            // NULL: not known (stored before this column, or fetched whole by the family itself).
            try db.execute(sql: "ALTER TABLE entries ADD COLUMN content_type TEXT")
        }
        migrator.registerMigration("v5: sample buckets") { db in
            // A request keeps up to N samples: uniqueness moves to (request, upstream, sample), which SQLite
            // changes only by rebuilding the table. Ids and their sequence carry over (fronts tell fetches apart by id).
            let sequence = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'entries'") ?? 0
            try db.execute(sql: """
                CREATE TABLE entries_v5 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    request_cid TEXT NOT NULL, upstream TEXT NOT NULL,
                    namespace TEXT NOT NULL, op TEXT NOT NULL,
                    content_cid TEXT NOT NULL, size INTEGER NOT NULL,
                    fetched INTEGER NOT NULL, expires INTEGER NOT NULL, ttl INTEGER NOT NULL,
                    hits INTEGER NOT NULL DEFAULT 0, last_access INTEGER NOT NULL,
                    tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
                    fetch_ms INTEGER NOT NULL DEFAULT 0, content_type TEXT,
                    sample INTEGER NOT NULL DEFAULT 0, samples INTEGER NOT NULL DEFAULT 1,
                    UNIQUE (request_cid, upstream, sample));
                INSERT INTO entries_v5 (id, request_cid, upstream, namespace, op, content_cid, size, fetched, expires, ttl,
                                        hits, last_access, tokens, cost_usd, fetch_ms, content_type)
                    SELECT id, request_cid, upstream, namespace, op, content_cid, size, fetched, expires, ttl,
                           hits, last_access, tokens, cost_usd, fetch_ms, content_type FROM entries;
                DROP TABLE entries;
                ALTER TABLE entries_v5 RENAME TO entries;
                CREATE INDEX entries_by_operation ON entries (namespace, op, upstream, id);
                CREATE INDEX entries_by_content ON entries (content_cid);
                CREATE INDEX entries_by_expiry ON entries (expires);
                CREATE INDEX entries_by_access ON entries (last_access);
                DELETE FROM sqlite_sequence WHERE name = 'entries';
                """)
            try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) SELECT 'entries', MAX(?, COALESCE(MAX(id), 0)) FROM entries",
                           arguments: [sequence])
        }
        return migrator
    }

    /// Creates a folder 0700 whatever the umask; an existing one is left as it is.
    static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) == 0 {
            chmod(path, 0o700)
        } else if errno != EEXIST {
            throw CacheError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A fresh file name in tmp/ that carries this process's id, so another
    /// process opening the store (`cidcache stats` beside a mount) can tell a
    /// live writer's file from a crash's leftover.
    func temporaryPath() -> String {
        "\(directory)/tmp/\(getpid()).\(UUID().uuidString)"
    }

    /// Files left in tmp/ by a crash were never renamed into place: drops every
    /// one whose writer is gone (its process no longer runs, its name is not
    /// ours, or it is older than a day). Files of running processes stay.
    /// - Returns: how many were removed.
    @discardableResult
    static func clearLeftoverFiles(_ folder: String) -> Int {
        let dayAgo = Int(time(nil)) - 86_400
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            let path = folder + "/" + name
            if let pid = name.split(separator: ".", maxSplits: 1).first.flatMap({ pid_t($0) }), pid > 0 {
                var info = stat()
                let recent = stat(path, &info) == 0 && Int(info.st_mtim.tv_sec) > dayAgo
                let running = kill(pid, 0) == 0 || errno == EPERM
                if recent && running { continue }
            }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    /// Drops every file in tmp/, a running writer's included (only under the store lock).
    /// - Returns: how many were removed.
    @discardableResult
    static func clearTemporaryFiles(_ folder: String) -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where unlink(folder + "/" + name) == 0 {
            removed += 1
        }
        return removed
    }

    /// Runs a read, mapping database failures to EIO.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try database.read(body) } catch { throw CacheError(.io, "index read failed: \(error)") }
    }

    /// Runs a single statement without a transaction around it (one SELECT is
    /// its own consistent snapshot in SQLite), for the lookups of every open:
    /// BEGIN and COMMIT would cost more than the lookup itself.
    func lookUp<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try database.unsafeRead(body) } catch { throw CacheError(.io, "index read failed: \(error)") }
    }

    /// Runs a write transaction, mapping database failures to EIO (ENOSPC when the disk is full).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try mappingWriteErrors { try database.write(body) }
    }

    /// Runs `body` on the writer, outside any transaction, mapping failures as `write` does.
    func writeWithoutTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try mappingWriteErrors { try database.writeWithoutTransaction(body) }
    }

    private func mappingWriteErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CacheError {
            throw error
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

    /// Keeps a value across restarts, replacing the earlier one under `key`.
    public func saveState(_ key: String, _ value: [UInt8]) throws {
        try write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)")
                .execute(arguments: [key, Data(value)])
        }
    }

    /// The store's 32-byte secret (file `secret`, 0600), made once from the
    /// kernel's random source: the key of the keyed hashes that scope entries
    /// by credential. Written to tmp/ and linked into place, so a concurrent
    /// opener never reads half of it and the first one made wins.
    public func secret() throws -> [UInt8] {
        let path = directory + "/secret"
        if let existing = FileManager.default.contents(atPath: path) {
            guard existing.count == 32 else { throw CacheError(.io, "\(path) is not a 32-byte secret") }
            return [UInt8](existing)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        let random = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard random >= 0 else { throw CacheError(.io, "cannot open /dev/urandom") }
        let got = bytes.withUnsafeMutableBytes { Glibc.read(random, $0.baseAddress, 32) }
        close(random)
        guard got == 32 else { throw CacheError(.io, "cannot read /dev/urandom") }

        let temporary = temporaryPath()
        try writeDurably(bytes, to: temporary)
        defer { unlink(temporary) }
        if link(temporary, path) != 0 {
            let code = errno
            // Another process made it first: use theirs.
            if code == EEXIST, let existing = FileManager.default.contents(atPath: path), existing.count == 32 {
                return [UInt8](existing)
            }
            throw Self.fileError(code, path)
        }
        return bytes
    }

    /// SQLite's own integrity check of the index.
    public func integrityCheck() throws -> Bool {
        try read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok" }
    }
}
