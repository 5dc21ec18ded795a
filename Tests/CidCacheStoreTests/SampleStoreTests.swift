import CidCacheCore
@testable import CidCacheStore
import Foundation
import GRDB
import XCTest

/// A request's samples (docs/REFERENCE.md §8.1): one row per sample, sample 0 the entry itself, and a
/// store made before samples keeps its entries (as sample 0 of 1) and its ids.
final class SampleStoreTests: StoreTestCase {
    private func sample(_ request: String, _ index: Int, of count: Int = 3, content: String = "c") -> NewEntry {
        let now = Int64(Date().timeIntervalSince1970)
        return NewEntry(requestCID: request, upstream: "u1", namespace: "openai", op: "chat.completions",
                        contentCID: "\(content)\(index)", size: 2, fetched: now, expires: now + 600, ttl: 600,
                        tokens: 0, costUSD: 0, fetchMs: 5, sample: index, samples: count)
    }

    func testEachSampleIsItsOwnRowAndTheEntryIsSampleZero() throws {
        let store = try Store(directory: directory)
        for index in [2, 0, 1] { _ = try store.upsertEntry(sample("r1", index)) }
        XCTAssertEqual(try store.samples(requestCID: "r1", upstream: "u1").map(\.sample), [0, 1, 2])
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1")?.contentCID, "c0")
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1", sample: 2)?.samples, 3)

        let replaced = try store.upsertEntry(sample("r1", 1, content: "new"))
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1", sample: 1), replaced)
        XCTAssertEqual(try store.samples(requestCID: "r1", upstream: "u1").count, 3)

        let listed = try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1", liveAt: 0,
                                       afterID: 0, upToID: .max, limit: 10)
        XCTAssertEqual(listed.map(\.sample), [0], "an operation's folder lists each request once")
        XCTAssertEqual(try store.removeEntry(requestCID: "r1", upstream: "u1").count, 3)
        XCTAssertEqual(try store.samples(requestCID: "r1", upstream: "u1"), [])
    }

    func testAStoreFromBeforeSamplesKeepsItsEntriesAndIds() throws {
        try makeIndex(migratedUpTo: "v4: the answer's content type") { db in
            for request in ["a", "b", "gone"] {
                try db.execute(sql: """
                    INSERT INTO entries (request_cid, upstream, namespace, op, content_cid, size, fetched, expires, ttl, last_access, hits)
                    VALUES (?, 'u1', 'openai', 'chat.completions', 'c', 2, 1, 4000000000, 600, 1, 7)
                    """, arguments: [request])
            }
            try db.execute(sql: "DELETE FROM entries WHERE request_cid = 'gone'")
        }
        let store = try Store(directory: directory)
        let old = try XCTUnwrap(try store.entry(requestCID: "b", upstream: "u1"))
        XCTAssertEqual([old.id, old.hits, Int64(old.sample), Int64(old.samples)], [2, 7, 0, 1])
        XCTAssertGreaterThan(try store.upsertEntry(sample("a", 1)).id, 3, "ids are never given twice")
        XCTAssertEqual(try store.samples(requestCID: "a", upstream: "u1").map(\.sample), [0, 1])
    }
}
