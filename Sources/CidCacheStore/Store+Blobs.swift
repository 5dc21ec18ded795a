public import CidCacheCore
import Foundation
import GRDB
import Glibc

extension Store {
    /// Where the bytes of a CID live: `blobs/<two digest characters>/<cid>`
    /// (the ones before the last, which carries only a few bits).
    public func blobPath(_ cid: String) -> String {
        let fanout = Substring(cid.utf8.dropLast().suffix(2))
        return directory + "/blobs/" + fanout + "/" + cid
    }

    /// Stores bytes under their CID once: identical bodies share one copy.
    /// - Parameter kind: "body" or "key" (a key document).
    public func putBlob(cid: String, bytes: [UInt8], kind: String = "body") throws {
        try writeBlobFile(cid: cid, bytes: bytes)
        try write { db in try insertBlobRow(db, cid: cid, bytes: bytes, kind: kind) }
    }

    /// Writes the file of a CID whose bytes are too large for the index, unless it is there already.
    /// A file found here may still be unlinked before the row is written; `insertBlobRow` checks again.
    func writeBlobFile(cid: String, bytes: [UInt8]) throws {
        guard bytes.count > inlineLimit else { return }
        let path = blobPath(cid)
        if access(path, F_OK) != 0 {
            try Self.makePrivateDirectory((path as NSString).deletingLastPathComponent)
            try writeAtomically(bytes, to: path)
        }
    }

    /// Indexes stored bytes (with the bytes themselves when small); a CID already stored stays as it is.
    /// Rows are trusted over files: a row is only ever written with its file in
    /// place, and files are unlinked only after their rows are gone (`removingBlobs`),
    /// on the writer, so a new row whose file was unlinked since `writeBlobFile` writes it again.
    func insertBlobRow(_ db: Database, cid: String, bytes: [UInt8], kind: String) throws {
        let inline: DatabaseValueConvertible? = bytes.count > inlineLimit ? nil : Data(bytes)
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO blobs (cid, size, kind, created, inline) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [cid, bytes.count, kind, Int64(Date().timeIntervalSince1970), inline])
        if db.changesCount > 0 { try writeBlobFile(cid: cid, bytes: bytes) }
    }

    /// Writes to a unique file in tmp/, syncs it, and renames it into place.
    private func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = temporaryPath()
        try writeDurably(bytes, to: temporary)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Self.fileError(code, path)
        }
    }

    /// Creates a new file (0600 whatever the umask), writes all of `bytes` and
    /// syncs them; on failure the file is removed.
    func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.fileError(errno, path) }
        var failure: Int32 = 0
        if fchmod(fd, 0o600) != 0 { failure = errno }
        var written = 0
        while failure == 0 && written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno != EINTR { failure = errno }
                continue
            }
            written += n
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 && errno != EINTR { failure = errno }
        if failure != 0 {
            unlink(path)
            throw Self.fileError(failure, path)
        }
    }

    static func fileError(_ code: Int32, _ path: String) -> CacheError {
        if code == ENOSPC || code == EDQUOT { return CacheError(.noSpace, "the disk is full (writing \(path))") }
        return CacheError(.io, "cannot write \(path): \(String(cString: strerror(code)))")
    }

    /// The stored bytes of a CID, from the index or their file; EIO when they are missing.
    /// - Parameter size: their size when known: small ones are looked for in the
    ///   index first (files of small bytes exist only in stores of earlier versions).
    public func readBlob(_ cid: String, size: Int64? = nil) throws -> [UInt8] {
        let small = size.map { $0 <= inlineLimit } ?? false
        if small, let bytes = try inlineBytes(cid) { return bytes }
        if let data = FileManager.default.contents(atPath: blobPath(cid)) { return [UInt8](data) }
        if !small, let bytes = try inlineBytes(cid) { return bytes }
        throw CacheError(.io, "stored bytes of \(cid) are missing")
    }

    /// The bytes of a CID kept in the index; nil when it is not stored there.
    public func inlineBytes(_ cid: String) throws -> [UInt8]? {
        try lookUp { db in
            try Data.fetchOne(db.cachedStatement(sql: "SELECT inline FROM blobs WHERE cid = ? AND inline IS NOT NULL"),
                              arguments: [cid]).map { [UInt8]($0) }
        }
    }

    /// The size of stored bytes, or nil when the CID is not stored.
    public func blobSize(_ cid: String) throws -> Int64? {
        try lookUp { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT size FROM blobs WHERE cid = ?"), arguments: [cid])
        }
    }

    /// A page of stored CIDs ordered by row id: after `afterID`, up to `upToID`.
    public func blobs(afterID: Int64, upToID: Int64, limit: Int) throws -> [BlobRecord] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT id, cid, size FROM blobs WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"),
                             arguments: [afterID, upToID, limit])
                .map { BlobRecord(id: $0["id"], cid: $0["cid"], size: $0["size"]) }
        }
    }

    /// The highest blob id given so far (0 when none): the snapshot bound of a paged listing.
    public func maxBlobID() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM blobs") ?? 0 }
    }

    /// How many CIDs are stored and their bytes in all.
    public func blobStats() throws -> (count: Int64, bytes: Int64) {
        try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs")
            return (row?["n"] ?? 0, row?["bytes"] ?? 0)
        }
    }

    /// Drops stored bytes and every entry that answers with them or is keyed by them.
    /// - Parameter forget: called with the removed entries after they left the
    ///   index and before the bytes' file goes, so no cached record outlives its bytes.
    /// - Returns: the entries removed.
    @discardableResult
    public func removeBlob(_ cid: String, forget: ([EntryRecord]) -> Void = { _ in }) throws -> [EntryRecord] {
        try removingBlobs { db in
            let entries = try Row.fetchAll(db, sql: "DELETE FROM entries WHERE content_cid = ? OR request_cid = ? RETURNING *",
                                           arguments: [cid, cid]).map(EntryRecord.init(row:))
            let cids = try String.fetchAll(db, sql: "DELETE FROM blobs WHERE cid = ? RETURNING cid", arguments: [cid])
            return (entries, cids)
        } forget: { forget($0) }
    }

    /// Runs `delete` in one write transaction (it deletes rows and returns the
    /// entries and CIDs it deleted), calls `forget` with the entries once
    /// committed, then unlinks the CIDs' files, all on the writer: no store of
    /// the same bytes can index them again between the commit and the unlink.
    func removingBlobs<Removed>(_ delete: (Database) throws -> (removed: Removed, cids: [String]),
                                forget: (Removed) -> Void) throws -> Removed {
        try writeWithoutTransaction { db in
            var deleted: (removed: Removed, cids: [String])?
            try db.inTransaction {
                deleted = try delete(db)
                return .commit
            }
            guard let deleted else { preconditionFailure("a committed transaction ran its body") }
            forget(deleted.removed)
            for cid in deleted.cids { unlink(blobPath(cid)) }
            return deleted.removed
        }
    }
}
