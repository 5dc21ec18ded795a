import CidCacheCore
import CidCacheUpstreams
import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// `Deadline`, the one helper that bounds upstream calls and the bucket's:
/// each case decided by order alone (a deadline already past, or never
/// reached), never by how long something took.
final class DeadlineTests: XCTestCase {
    private let loop = MultiThreadedEventLoopGroup.singleton.next()

    /// Work that never ends by itself and ignores cancellation, as a pooled
    /// connection nobody answers on; `ended` tells whether it was let go.
    private final class DeafWork: Sendable {
        private let opened = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

        func run() async {
            await withCheckedContinuation { continuation in
                let now = opened.withLock { state -> Bool in
                    if !state.open { state.waiting.append(continuation) }
                    return state.open
                }
                if now { continuation.resume() }
            }
        }

        func release() {
            opened.withLock { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }.forEach { $0.resume() }
        }
    }

    func testTheWorkFirst() async {
        let outcome = await Deadline.race(.distantFuture, on: loop) { () async throws -> Int in 7 }
        guard case .success(7)? = outcome else { return XCTFail("\(String(describing: outcome))") }
    }

    func testTheWorksFailureIsItsOutcome() async {
        let outcome = await Deadline.race(.distantFuture, on: loop) { () async throws -> Int in throw CacheError(.io, "refused") }
        guard case .failure(let error as CacheError)? = outcome else { return XCTFail("\(String(describing: outcome))") }
        XCTAssertEqual(error.message, "refused")
    }

    func testTheDeadlineFirstEvenWhenTheWorkIgnoresItsCancellation() async {
        let work = DeafWork()
        let outcome = await Deadline.race(.now() - .seconds(1), on: loop) { () async throws -> Int in
            await work.run()
            return 1
        }
        XCTAssertNil(outcome, "a deadline already past comes first")
        work.release()
    }

    func testTheCallerCancelledEndsTheWaitAndCancelsTheWork() async {
        let workStarted = expectation(description: "the work started")
        let workCancelled = expectation(description: "the work was cancelled")
        let loop = self.loop
        let caller = Task {
            await Deadline.race(.distantFuture, on: loop) { () async throws -> Int in
                workStarted.fulfill()
                do {
                    try await Deadline.sleep(until: .distantFuture)
                } catch {
                    workCancelled.fulfill()
                    throw error
                }
                return 1
            }
        }
        await fulfillment(of: [workStarted], timeout: 30)
        caller.cancel()
        let outcome = await caller.value
        XCTAssertNil(outcome)
        await fulfillment(of: [workCancelled], timeout: 30)
    }

    func testACallerCancelledBeforeTheRaceStartsNoWork() async {
        let started = Atomic<Bool>(false)
        let loop = self.loop
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await Deadline.race(.distantFuture, on: loop) { () async throws -> Int in
                started.store(true, ordering: .relaxed)
                return 1
            }
        }
        let outcome = await caller.value
        XCTAssertNil(outcome)
        XCTAssertFalse(started.load(ordering: .relaxed))
    }

    func testASleepUntilAPastDeadlineReturns() async throws {
        try await Deadline.sleep(until: .now() - .seconds(1))
    }

    func testACancelledSleepThrows() async {
        let sleeper = Task { try await Deadline.sleep(until: .distantFuture) }
        sleeper.cancel()
        let outcome = await sleeper.result
        guard case .failure(let error) = outcome else { return XCTFail("slept through its cancellation") }
        XCTAssertTrue(error is CancellationError)
    }

    func testAnHourIsAfterNowAndAHugeSpanNeverComes() {
        XCTAssertGreaterThan(Deadline.after(seconds: 3600), .now())
        XCTAssertEqual(Deadline.after(seconds: 1e300), .distantFuture)
    }
}
