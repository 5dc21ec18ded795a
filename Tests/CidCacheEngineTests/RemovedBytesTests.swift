import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
@testable import CidCacheStore
import XCTest

/// A hit never answers EIO for bytes an eviction or a removal took away: an
/// entry that left the index with its bytes is a miss.
final class RemovedBytesTests: EchoEngineTestCase {
    func testARememberedEntryWhoseBytesWereRemovedIsAMiss() async throws {
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("gone"), pid: 0)
        let bytes = try await first.body.collect()
        let content = try XCTUnwrap(first.contentCID ?? CID.forContent(bytes) as CID?)
        // Removed as an eviction pass removes, before the engine is told:
        // its record of the entry is still remembered.
        try engine.store.removeBlob(content.string)

        let second = try await engine.query(namespace: "exec", op: "echo", body: echo("gone"), pid: 0)
        XCTAssertEqual(second.outcome, .miss)
        let secondBytes = try await second.body.collect()
        XCTAssertEqual(secondBytes, bytes)
        XCTAssertEqual(upstreamCalls, 2)
    }

    func testBytesMissingUnderAnIndexedEntryAreEIO() async throws {
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("kept"), pid: 0)
        let bytes = try await first.body.collect()
        try engine.store.write { db in
            try db.execute(sql: "DELETE FROM blobs WHERE cid = ?", arguments: [CID.forContent(bytes).string])
        }
        do {
            _ = try await engine.query(namespace: "exec", op: "echo", body: echo("kept"), pid: 0)
            XCTFail("answered without its bytes")
        } catch let error as CacheError {
            XCTAssertEqual(error.kind, .io)
        }
    }
}
