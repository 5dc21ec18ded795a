public import CidCacheCore
import Foundation
import GRDB
import Glibc

extension Store {
    /// Checks every stored byte against its CID and every entry against its
    /// bytes; drops what is wrong or orphaned. Safe on a live store only while
    /// no other process writes to it (the CLI takes the store lock).
    public func verify() throws -> VerifyReport {
        var report = VerifyReport()
        report.indexIntact = try integrityCheck()
        report.temporaryFilesRemoved = Self.clearTemporaryFiles(directory + "/tmp")

        var known = Set<String>()
        var after: Int64 = 0
        let last = try maxBlobID()
        while true {
            let page = try blobs(afterID: after, upToID: last, limit: 500)
            guard let tail = page.last else { break }
            after = tail.id
            for blob in page {
                report.blobsChecked += 1
                known.insert(blob.cid)
                if !(try bytesMatch(blob)) {
                    report.badBlobs.append(blob.cid)
                    report.droppedEntries += try removeBlob(blob.cid)
                }
            }
        }
        // Entries whose bytes were never indexed (or were just dropped).
        let orphans = try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM entries WHERE content_cid NOT IN (SELECT cid FROM blobs)
                                         OR request_cid NOT IN (SELECT cid FROM blobs)
                """).map(EntryRecord.init(row:))
        }
        try removeEntries(ids: orphans.map(\.id))
        report.droppedEntries += orphans

        let enumerator = FileManager.default.enumerator(atPath: directory + "/blobs")
        while let relative = enumerator?.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            guard relative.contains("/"), !known.contains(name) else { continue }
            unlink(directory + "/blobs/" + relative)
            report.strayFiles += 1
        }
        return report
    }

    /// Whether the stored bytes of a CID, in the index or in their file, are exactly what it names.
    func bytesMatch(_ blob: BlobRecord) throws -> Bool {
        guard let expected = CID(blob.cid) else { return false }
        if let inline = try inlineBytes(blob.cid) {
            var hasher = SHA256Hasher()
            hasher.update(inline)
            return Int64(inline.count) == blob.size && hasher.finalize() == expected.digest
        }
        return Self.fileMatches(path: blobPath(blob.cid), digest: expected.digest, size: blob.size)
    }

    /// Whether a file holds exactly `size` bytes with this SHA-256 digest.
    static func fileMatches(path: String, digest: [UInt8], size: Int64) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var hasher = SHA256Hasher()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return false }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            total += Int64(n)
        }
        return total == size && hasher.finalize() == digest
    }

    /// Evicts least recently used entries until the stored bytes fit the budget,
    /// then deletes the bytes no entry needs any more.
    /// - Parameter forget: called with each batch of evicted entries once they
    ///   left the index, before any of their bytes go.
    /// - Returns: the entries evicted.
    @discardableResult
    public func evict(toFit budget: Int64, forget: ([EntryRecord]) -> Void = { _ in }) throws -> [EntryRecord] {
        var evicted: [EntryRecord] = []
        var total = try blobStats().bytes
        // Only entries stored before the pass: under a steady stream of new answers it still ends.
        let newest = try maxEntryID()
        while total > budget {
            let excess = total - budget
            // Chosen and deleted in one transaction: an entry stored or replaced meanwhile is judged as it is.
            let victims = try write { db -> [EntryRecord] in
                let candidates = try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM entries WHERE id <= ? ORDER BY last_access, id LIMIT 256"),
                                                  arguments: [newest]).map(EntryRecord.init(row:))
                // Just enough of the oldest to cover the excess (bodies shared with kept entries free nothing).
                var victims: [EntryRecord] = [], freeing: Int64 = 0
                for entry in candidates where freeing < excess {
                    victims.append(entry)
                    freeing += entry.size
                }
                let statement = try db.cachedStatement(sql: "DELETE FROM entries WHERE id = ?")
                for victim in victims { try statement.execute(arguments: [victim.id]) }
                return victims
            }
            if !victims.isEmpty { forget(victims) }
            evicted += victims
            let freed = try removeUnneededBlobs()
            if victims.isEmpty && freed == 0 { break }
            total = try blobStats().bytes
        }
        return evicted
    }

    /// Deletes stored bytes that no entry answers with or is keyed by: chosen
    /// and deleted in one transaction, their files unlinked after it.
    @discardableResult
    public func removeUnneededBlobs() throws -> Int {
        try removingBlobs { db in
            let cids = try String.fetchAll(db, sql: """
                DELETE FROM blobs WHERE cid NOT IN (SELECT content_cid FROM entries)
                                    AND cid NOT IN (SELECT request_cid FROM entries)
                RETURNING cid
                """)
            return (cids.count, cids)
        } forget: { _ in }
    }
}
