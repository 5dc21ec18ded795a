import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheStore
@testable import CidCacheUpstreams
import Foundation
import GRDB
import XCTest

/// An index that fails is EIO with an `errors` line, never "not cached", and
/// what a flush could not write is written by the next one.
final class IndexFailureTests: EchoEngineTestCase {
    private func moveTable(_ from: String, _ to: String) throws {
        try engine.store.write { db in try db.execute(sql: "ALTER TABLE \(from) RENAME TO \(to)") }
    }

    private var errorLines: [String] {
        ((try? String(contentsOfFile: engine.errorLog.path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func testAFailingIndexIsEIONotAbsence() async throws {
        let answer = try await engine.query(namespace: "exec", op: "echo", body: echo("indexed"), pid: 0)
        _ = try await answer.body.collect()
        let requestCID = answer.requestCID.string
        try moveTable("entries", "entries_away")
        defer { try? moveTable("entries_away", "entries") }
        let before = errorLines.count

        for call in [
            { _ = try self.engine.liveEntry(namespace: "exec", op: "echo", requestCID: "bagaaierano-such-entry") },
            { _ = try self.engine.invalidate(namespace: "exec", op: "echo", requestCID: requestCID) },
            { _ = try self.engine.liveEntries(namespace: "exec", op: "echo", afterID: 0, upToID: 10, limit: 10) },
        ] as [() throws -> Void] {
            XCTAssertThrowsError(try call()) { XCTAssertEqual(($0 as? CacheError)?.kind, .io) }
        }
        XCTAssertEqual(errorLines.count, before + 3)
        XCTAssertTrue(errorLines.last?.contains("\"errno\":\"EIO\"") ?? false, errorLines.last ?? "")
    }

    func testHitsAndFiguresAFlushCouldNotWriteAreWrittenByTheNext() async throws {
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("counted"), pid: 0)
        _ = try await first.body.collect()
        engine.flush()
        let hit = try await engine.query(namespace: "exec", op: "echo", body: echo("counted"), pid: 0)
        XCTAssertEqual(hit.outcome, .hit)
        let entry = try XCTUnwrap(hit.entry)

        try moveTable("entries", "entries_away")
        try moveTable("state", "state_away")
        engine.flush()
        XCTAssertGreaterThanOrEqual(errorLines.count, 2)
        try moveTable("entries_away", "entries")
        try moveTable("state_away", "state")
        engine.flush()

        XCTAssertEqual(try engine.store.entry(id: entry.id)?.hits, 1)
        let saved = try XCTUnwrap(try engine.store.loadState("stats"))
        let counters = try JSONDecoder().decode([String: Counters].self, from: Data(saved))
        XCTAssertEqual(counters["exec"]?.hits, 1)
    }
}
