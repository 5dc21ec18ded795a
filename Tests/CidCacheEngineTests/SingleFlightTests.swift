import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import Synchronization
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
final class EngineFlightTests: EchoEngineTestCase {
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

/// `SingleFlight` by itself: joins, landing, failures.
final class SingleFlightTests: XCTestCase {
    private let flights = SingleFlight<String, Int>()
    private final class Counter: Sendable {
        let count = Atomic<Int>(0)
    }
    private let runs = Counter()

    /// A run that counts itself, then waits for `release` before answering `value`.
    private func counted(_ value: Int, release: AsyncStream<Void>, landing: Bool = true)
        -> @Sendable (@escaping @Sendable () -> Void) async throws -> Int {
        { [runs] land in
            runs.count.add(1, ordering: .relaxed)
            for await _ in release { break }
            if landing { land() }
            return value
        }
    }

    func testCallersOfOneKeyShareOneRunUntilItLands() async throws {
        let (release, open) = AsyncStream<Void>.makeStream()
        let flights = self.flights, one = counted(1, release: release), two = counted(2, release: release)
        async let first = flights.run("k", one)
        while !flights.isFlying("k") { await Task.yield() }
        async let second = flights.run("k", two)
        open.yield()
        let (a, b) = try await (first, second)
        XCTAssertEqual([a.value, b.value], [1, 1])
        XCTAssertEqual([a.joined, b.joined].sorted { !$0 && $1 }, [false, true])
        XCTAssertEqual(runs.count.load(ordering: .relaxed), 1)
        XCTAssertFalse(flights.isFlying("k"))
    }

    func testARunStaysJoinableAfterItsValueUntilItLands() async throws {
        let landing = Mutex<(@Sendable () -> Void)?>(nil)
        let first = try await flights.run("k") { land in
            landing.withLock { $0 = land }
            return 1
        }
        XCTAssertFalse(first.joined)
        let second = try await flights.run("k") { _ in 2 }
        XCTAssertEqual(second.value, 1)
        XCTAssertTrue(second.joined)
        landing.withLock { $0 }?()
        let third = try await flights.run("k") { land in land(); return 3 }
        XCTAssertEqual(third.value, 3)
        XCTAssertFalse(third.joined)
    }

    func testALateLandingNeverEndsALaterRun() async throws {
        let landing = Mutex<(@Sendable () -> Void)?>(nil)
        _ = try await flights.run("k") { land in landing.withLock { $0 = land }; land(); return 1 }
        let later = Mutex<(@Sendable () -> Void)?>(nil)
        _ = try await flights.run("k") { land in later.withLock { $0 = land }; return 2 }
        landing.withLock { $0 }?()  // the first run's land, called again
        XCTAssertTrue(flights.isFlying("k"))
        later.withLock { $0 }?()
        XCTAssertFalse(flights.isFlying("k"))
    }

    /// A caller cancelled while it waits stops waiting at once; the run goes
    /// on, with no task of the caller's, and a joiner still gets its value.
    func testACancelledCallerStopsWaitingAndTheRunGoesOn() async throws {
        let (release, open) = AsyncStream<Void>.makeStream()
        let flights = self.flights, one = counted(1, release: release)
        let first = Task { try await flights.run("k", one) }
        while !flights.isFlying("k") { await Task.yield() }
        first.cancel()
        let outcome = await first.result
        guard case .failure(let error) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(error is CancellationError, "\(error)")
        XCTAssertTrue(flights.isFlying("k"), "the run goes on")
        async let joiner = flights.run("k") { _ in 2 }
        open.yield()
        let joined = try await joiner
        XCTAssertEqual(joined.value, 1)
        XCTAssertTrue(joined.joined)
        XCTAssertEqual(runs.count.load(ordering: .relaxed), 1)
    }

    func testAFailureReachesEveryJoinerAndTheKeyFliesAgain() async throws {
        struct Failure: Error {}
        do {
            _ = try await flights.run("k") { land in land(); throw Failure() }
            XCTFail("no failure")
        } catch is Failure {}
        let again = try await flights.run("k") { land in land(); return 5 }
        XCTAssertEqual(again.value, 5)
    }

    /// `start` takes the key before it returns (a sample chosen under a lock is taken by then), and
    /// a second start joins without waiting for anything.
    func testStartTakesTheKeyAtOnceAndASecondStartJoins() async throws {
        let (release, open) = AsyncStream<Void>.makeStream()
        let first = flights.start("k", counted(1, release: release))
        XCTAssertTrue(flights.isFlying("k"))
        let second = flights.start("k") { _ in 2 }
        XCTAssertEqual([first.joined, second.joined], [false, true])
        open.yield()
        let values = try await [first.value(), second.value()]
        XCTAssertEqual(values, [1, 1])
        XCTAssertEqual(runs.count.load(ordering: .relaxed), 1)
    }
}
