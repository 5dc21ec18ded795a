import CidCacheCore
@testable import CidCacheStore
import Foundation
import GRDB
import XCTest

/// The entry's content type: a column added by a migration, so a store made
/// before it opens with its entries intact and their content type unknown.
final class ContentTypeMigrationTests: StoreTestCase {
    private func entry(_ request: String, contentType: String?) -> NewEntry {
        let now = Int64(Date().timeIntervalSince1970)
        return NewEntry(requestCID: request, upstream: "u1", namespace: "anthropic", op: "messages", contentCID: "c1", size: 2,
                        fetched: now, expires: now + 600, ttl: 600, tokens: 0, costUSD: 0, fetchMs: 5, contentType: contentType)
    }

    func testAnEntryKeepsItsContentType() throws {
        let store = try Store(directory: directory)
        let stored = try store.upsertEntry(entry("r1", contentType: "application/json; charset=utf-8"))
        XCTAssertEqual(stored.contentType, "application/json; charset=utf-8")
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1"), stored)
        XCTAssertNil(try store.upsertEntry(entry("r2", contentType: nil)).contentType)
        XCTAssertNil(try store.entry(requestCID: "r2", upstream: "u1")?.contentType)
    }

    func testAStoreFromBeforeTheColumnOpensAndKeepsItsEntries() throws {
        // A store as the version before made it: no column, an entry written without it.
        try makeIndex(migratedUpTo: "v3: blob totals from an index") { db in
            try db.execute(sql: """
                INSERT INTO entries (request_cid, upstream, namespace, op, content_cid, size, fetched, expires, ttl, last_access)
                VALUES ('old', 'u1', 'anthropic', 'messages', 'c0', 2, 1, 4000000000, 600, 1)
                """)
        }
        let store = try Store(directory: directory)
        let old = try XCTUnwrap(try store.entry(requestCID: "old", upstream: "u1"))
        XCTAssertNil(old.contentType)
        XCTAssertEqual(old.contentCID, "c0")
        XCTAssertEqual(try store.upsertEntry(entry("new", contentType: "text/event-stream")).contentType, "text/event-stream")
        XCTAssertEqual(try store.entry(requestCID: "new", upstream: "u1")?.contentType, "text/event-stream")
    }
}
