import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheStore
@testable import CidCacheUpstreams
import GRDB
import XCTest

/// A hit never answers EIO, nor other bytes, for bytes an eviction or a
/// removal took away: an entry that left the index with its bytes is answered
/// with its own bytes from memory until the engine forgets it, then is a miss.
final class RemovedBytesTests: EchoEngineTestCase {
    func testARememberedEntryWhoseBytesWereRemovedIsAMiss() async throws {
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("gone"), pid: 0)
        let bytes = try await first.body.collect()
        let content = try XCTUnwrap(first.contentCID ?? first.body.contentCID)
        XCTAssertEqual(content, CID.forContent(bytes))
        let entry = try XCTUnwrap(try engine.store.entry(requestCID: first.requestCID.string, upstream: engine.namespaces["exec"]!.upstream))
        // Removed as an eviction pass removes, before the engine is told:
        // its record of the entry and the bytes are still remembered.
        try engine.store.removeBlob(content.string)

        let second = try await engine.query(namespace: "exec", op: "echo", body: echo("gone"), pid: 0)
        let secondBytes = try await second.body.collect()
        XCTAssertEqual(secondBytes, bytes)
        XCTAssertEqual(upstreamCalls, 1)

        engine.entries.forget([entry])  // what the pass does next
        let third = try await engine.query(namespace: "exec", op: "echo", body: echo("gone"), pid: 0)
        XCTAssertEqual(third.outcome, .miss)
        let thirdBytes = try await third.body.collect()
        XCTAssertEqual(thirdBytes, bytes)
        XCTAssertEqual(upstreamCalls, 2)
    }

    func testBytesMissingUnderAnIndexedEntryAreEIO() async throws {
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("kept"), pid: 0)
        let bytes = try await first.body.collect()
        let entry = try XCTUnwrap(try engine.store.entry(requestCID: first.requestCID.string, upstream: engine.namespaces["exec"]!.upstream))
        try engine.store.write { db in
            try db.execute(sql: "DELETE FROM blobs WHERE cid = ?", arguments: [CID.forContent(bytes).string])
        }
        engine.entries.forget([entry])  // memory no longer holds them: the index is asked
        do throws(CacheError) {
            _ = try await engine.query(namespace: "exec", op: "echo", body: echo("kept"), pid: 0)
            XCTFail("answered without its bytes")
        } catch {
            XCTAssertEqual(error.kind, .io)
        }
    }
}
