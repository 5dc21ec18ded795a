import CidCacheCore
@testable import CidCacheEngine
import Foundation
import XCTest

/// An engine whose upstream is a command that echoes its input and counts its runs.
class EchoEngineTestCase: XCTestCase {
    private var directory: String!
    private var runs: String!
    var engine: CacheEngine!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-flight-\(UUID().uuidString)"
        runs = directory + "-runs"
        var config = CacheConfig()
        // Each run of the command adds a line to `runs`: the upstream calls, counted.
        config.execCommands = ["echo": ExecCommand(argv: ["/bin/sh", "-c", "echo run >> \"$0\"; cat", runs])]
        engine = try CacheEngine(dataDirectory: directory, config: config, environment: [:], truncateLogs: true)
    }

    override func tearDown() async throws {
        await engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: runs)
    }

    var upstreamCalls: Int {
        ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func echo(_ stdin: String, control: String = "") -> [UInt8] {
        Array(#"{"stdin": "\#(stdin)"\#(control)}"#.utf8)
    }

    func start(_ stdin: String) throws -> CacheEngine.PendingQuery {
        switch engine.start(namespace: "exec", op: "echo", body: echo(stdin), pid: 0) {
        case .needsUpstream(let pending): return pending
        case .answered(let answer): XCTFail("answered as \(answer.outcome)"); throw CancellationError()
        case .failed(let error): XCTFail("\(error)"); throw error
        }
    }
}

/// One upstream call per distinct live request, whatever the interleaving of
/// the look-up (`start`) and the flight (`finish`).
final class SingleFlightTests: EchoEngineTestCase {
    func testAFlightThatLandedAfterTheLookUpAnswersTheLaterOne() async throws {
        let late = try start("hello")
        let first = try await engine.query(namespace: "exec", op: "echo", body: echo("hello"), pid: 0)
        XCTAssertEqual(first.outcome, .miss)
        let firstBytes = try await first.body.collect()
        XCTAssertEqual(firstBytes, Array("hello".utf8))

        let second = try await engine.finish(late)
        XCTAssertEqual(second.outcome, .hit)
        XCTAssertEqual(second.contentCID, CID.forContent(firstBytes))
        let secondBytes = try await second.body.collect()
        XCTAssertEqual(secondBytes, firstBytes)
        XCTAssertEqual(upstreamCalls, 1)
    }

    func testRefreshStillCallsTheUpstream() async throws {
        _ = try await engine.query(namespace: "exec", op: "echo", body: echo("again"), pid: 0).body.collect()
        let refresh = try await engine.query(namespace: "exec", op: "echo",
                                             body: echo("again", control: #", "cidcache": {"refresh": true}"#), pid: 0)
        XCTAssertEqual(refresh.outcome, .miss)
        _ = try await refresh.body.collect()
        XCTAssertEqual(upstreamCalls, 2)
    }
}
