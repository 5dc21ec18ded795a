public import CidCacheCore
import GRDB

extension EntryRecord {
    /// From a `SELECT *` row of `entries`, by position in the table's column
    /// order (a lookup by name searches the columns, and this runs on every open).
    init(row: Row) {
        self.init(id: row[0], requestCID: row[1], upstream: row[2], namespace: row[3], op: row[4], contentCID: row[5],
                  size: row[6], fetched: row[7], expires: row[8], ttl: row[9], hits: row[10], lastAccess: row[11],
                  tokens: row[12], costUSD: row[13], fetchMs: row[14], contentType: row[15], sample: row[16], samples: row[17])
    }
}

extension Store {
    /// Indexes a fresh answer, replacing an earlier fetch of the same request (and sample):
    /// the replacement gets a new id and starts with no hits.
    public func upsertEntry(_ entry: NewEntry) throws -> EntryRecord {
        try write { db in try upsertEntry(db, entry) }
    }

    /// Stores a fresh answer: its body and key document (the files of large
    /// ones first, synced), then their rows and the entry in one index transaction.
    /// - Returns: the new entry, and the earlier fetch it replaced.
    public func storeAnswer(_ entry: NewEntry, body: [UInt8], keyDocument: [UInt8]) throws
        -> (stored: EntryRecord, replaced: EntryRecord?) {
        try writeBlobFile(cid: entry.contentCID, bytes: body)
        try writeBlobFile(cid: entry.requestCID, bytes: keyDocument)
        return try indexAnswer(entry, body: body, keyDocument: keyDocument)
    }

    /// The transaction of `storeAnswer`, after its files were written.
    func indexAnswer(_ entry: NewEntry, body: [UInt8], keyDocument: [UInt8]) throws
        -> (stored: EntryRecord, replaced: EntryRecord?) {
        try write { db in
            try insertBlobRow(db, cid: entry.contentCID, bytes: body, kind: "body")
            try insertBlobRow(db, cid: entry.requestCID, bytes: keyDocument, kind: "key")
            let replaced = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM entries WHERE request_cid = ? AND upstream = ? AND sample = ?"),
                                            arguments: [entry.requestCID, entry.upstream, entry.sample]).map(EntryRecord.init(row:))
            return (try upsertEntry(db, entry), replaced)
        }
    }

    private func upsertEntry(_ db: Database, _ entry: NewEntry) throws -> EntryRecord {
        try db.cachedStatement(sql: "DELETE FROM entries WHERE request_cid = ? AND upstream = ? AND sample = ?")
            .execute(arguments: [entry.requestCID, entry.upstream, entry.sample])
        try db.cachedStatement(sql: """
            INSERT INTO entries (request_cid, upstream, namespace, op, content_cid, size, fetched, expires, ttl,
                                 hits, last_access, tokens, cost_usd, fetch_ms, content_type, sample, samples)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                entry.requestCID, entry.upstream, entry.namespace, entry.op, entry.contentCID, entry.size,
                entry.fetched, entry.expires, entry.ttl, entry.fetched, entry.tokens, entry.costUSD, entry.fetchMs,
                entry.contentType, entry.sample, entry.samples,
            ])
        return EntryRecord(id: db.lastInsertedRowID, requestCID: entry.requestCID, upstream: entry.upstream,
                           namespace: entry.namespace, op: entry.op, contentCID: entry.contentCID, size: entry.size,
                           fetched: entry.fetched, expires: entry.expires, ttl: entry.ttl, hits: 0,
                           lastAccess: entry.fetched, tokens: entry.tokens, costUSD: entry.costUSD, fetchMs: entry.fetchMs,
                           contentType: entry.contentType, sample: entry.sample, samples: entry.samples)
    }

    /// The entry of a request under an upstream identity (one sample of it: 0 unless sampled), live or not.
    public func entry(requestCID: String, upstream: String, sample: Int = 0) throws -> EntryRecord? {
        try lookUp { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM entries WHERE request_cid = ? AND upstream = ? AND sample = ?"),
                             arguments: [requestCID, upstream, sample]).map(EntryRecord.init(row:))
        }
    }

    /// Every sample of a request under an upstream identity, live or not, by sample index.
    public func samples(requestCID: String, upstream: String) throws -> [EntryRecord] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM entries WHERE request_cid = ? AND upstream = ? ORDER BY sample"),
                             arguments: [requestCID, upstream]).map(EntryRecord.init(row:))
        }
    }

    /// The entry with this id (a given fetch), live or not.
    public func entry(id: Int64) throws -> EntryRecord? {
        try lookUp { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM entries WHERE id = ?"), arguments: [id]).map(EntryRecord.init(row:))
        }
    }

    /// A page of live entries of one operation ordered by id (sample 0 of sampled requests): after `afterID`, up to `upToID`.
    public func entries(namespace: String, op: String, upstream: String, liveAt now: Int64,
                        afterID: Int64, upToID: Int64, limit: Int) throws -> [EntryRecord] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT * FROM entries WHERE namespace = ? AND op = ? AND upstream = ? AND id > ? AND id <= ? AND expires > ?
                      AND sample = 0 ORDER BY id LIMIT ?
                """), arguments: [namespace, op, upstream, afterID, upToID, now, limit]).map(EntryRecord.init(row:))
        }
    }

    /// Every entry of a namespace (and operation) under an upstream identity, for invalidation.
    public func entries(namespace: String, op: String?, upstream: String) throws -> [EntryRecord] {
        try read { db in
            if let op {
                return try Row.fetchAll(db, sql: "SELECT * FROM entries WHERE namespace = ? AND op = ? AND upstream = ?",
                                        arguments: [namespace, op, upstream]).map(EntryRecord.init(row:))
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM entries WHERE namespace = ? AND upstream = ?",
                                    arguments: [namespace, upstream]).map(EntryRecord.init(row:))
        }
    }

    /// A page of `entries(namespace:op:upstream:)` ordered by id, live and
    /// expired alike: the entries after `afterID`, at most `limit`. Pass the
    /// last id of a page to get the next; an empty page ends the scan.
    public func entries(namespace: String, op: String?, upstream: String, afterID: Int64, limit: Int) throws -> [EntryRecord] {
        try read { db in
            if let op {
                return try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT * FROM entries WHERE namespace = ? AND op = ? AND upstream = ? AND id > ? ORDER BY id LIMIT ?
                    """), arguments: [namespace, op, upstream, afterID, limit]).map(EntryRecord.init(row:))
            }
            return try Row.fetchAll(db.cachedStatement(sql: """
                SELECT * FROM entries WHERE namespace = ? AND upstream = ? AND id > ? ORDER BY id LIMIT ?
                """), arguments: [namespace, upstream, afterID, limit]).map(EntryRecord.init(row:))
        }
    }

    /// The highest entry id given so far (0 when none): the snapshot bound of a paged listing.
    public func maxEntryID() throws -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM entries") ?? 0 }
    }

    /// Removes the entry of a request with every sample of it; returns what it removed.
    @discardableResult
    public func removeEntry(requestCID: String, upstream: String) throws -> [EntryRecord] {
        try write { db in
            try Row.fetchAll(db, sql: "DELETE FROM entries WHERE request_cid = ? AND upstream = ? RETURNING *",
                             arguments: [requestCID, upstream]).map(EntryRecord.init(row:))
        }
    }

    /// Removes the entries with these ids (unknown ids are ignored), in one transaction.
    public func removeEntries(ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM entries WHERE id = ?")
            for id in ids { try statement.execute(arguments: [id]) }
        }
    }

    /// Adds batched hit counts and sets last access times, in one transaction.
    public func recordAccesses(_ accesses: [(id: Int64, hits: Int64, lastAccess: Int64)]) throws {
        guard !accesses.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: "UPDATE entries SET hits = hits + ?, last_access = MAX(last_access, ?) WHERE id = ?")
            for access in accesses { try statement.execute(arguments: [access.hits, access.lastAccess, access.id]) }
        }
    }

    /// Entries and their bytes by namespace, live and expired alike.
    public func entryCounts() throws -> [String: (entries: Int64, bytes: Int64)] {
        try read { db in
            var counts: [String: (entries: Int64, bytes: Int64)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT namespace, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM entries GROUP BY namespace") {
                counts[row["namespace"]] = (row["n"], row["bytes"])
            }
            return counts
        }
    }
}
