import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import Synchronization
import XCTest

/// Calls under way and their peak, shared by the tasks of a test.
private final class Concurrency: Sendable {
    let counts = Mutex((active: 0, peak: 0))
}

final class UpstreamLimiterTests: XCTestCase {
    func testConcurrencyIsCappedAndEveryCallRuns() async throws {
        let limiter = UpstreamLimiter(concurrent: 2, perMinute: nil)
        let concurrency = Concurrency()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<10 {
                group.addTask {
                    try await limiter.run {
                        concurrency.counts.withLock { $0.active += 1; $0.peak = max($0.peak, $0.active) }
                        try await Task.sleep(nanoseconds: 20_000_000)
                        concurrency.counts.withLock { $0.active -= 1 }
                        return i
                    }
                }
            }
            var finished = 0
            for try await _ in group { finished += 1 }
            XCTAssertEqual(finished, 10)
        }
        XCTAssertEqual(concurrency.counts.withLock { $0.peak }, 2)
    }

    func testCallsPastTheBudgetWaitForTheWindow() async throws {
        let limiter = UpstreamLimiter(concurrent: 8, perMinute: 3, windowSeconds: 0.5)
        let started = Date()
        for _ in 0..<4 { _ = try await limiter.run { 0 } }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.45)
    }

    /// A start the budget would allow only past the call's deadline is EBUSY at once, not a wait past it.
    func testAStartPastTheDeadlineIsBusyAtOnce() async throws {
        let limiter = UpstreamLimiter(concurrent: 8, perMinute: 1, windowSeconds: 60)
        _ = try await limiter.run { 0 }
        do {
            _ = try await limiter.run(before: Deadline.after(seconds: 5)) { 0 }
            XCTFail("the second call started")
        } catch let error as CacheError {
            XCTAssertEqual(error.kind, .busy)
            XCTAssertTrue(error.message.contains("per_minute"), error.message)
        }
    }

    /// A call that finds every slot busy past its deadline is EBUSY then; the calls behind it still run in order.
    func testASlotWaitEndsAtItsDeadline() async throws {
        let limiter = UpstreamLimiter(concurrent: 1, perMinute: nil)
        let release = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let holder = Task {
            try await limiter.run {
                await withCheckedContinuation { continuation in release.withLock { $0 = continuation } }
                return 0
            }
        }
        while release.withLock({ $0 == nil }) { await Task.yield() }
        do {
            _ = try await limiter.run(before: Deadline.after(seconds: 0.2)) { 1 }
            XCTFail("the call got a slot that was never freed")
        } catch let error as CacheError {
            XCTAssertEqual(error.kind, .busy)
            XCTAssertTrue(error.message.contains("concurrent"), error.message)
        }
        let waiting = Task { try await limiter.run(before: Deadline.after(seconds: 60)) { 2 } }
        release.withLock { $0 }?.resume()
        _ = try await holder.value
        let next = try await waiting.value
        XCTAssertEqual(next, 2)
    }
}
