import CidCacheCore
@testable import CidCacheShared
import CidCacheUpstreams
import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// The shared tier's bounds, in process: a deadline that holds against work
/// that ignores cancellation, the stop's drain, one breaker per direction,
/// and which of two records keeps the place.
final class SharedTierBoundsTests: XCTestCase {
    /// A gate the test opens at its end, so no task is left waiting.
    final class Gate: Sendable {
        private let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])
        private let opened = Atomic<Bool>(false)

        func wait() async {
            await withCheckedContinuation { continuation in
                let now = waiting.withLock { list -> Bool in
                    if opened.load(ordering: .acquiring) { return true }
                    list.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }

        func open() {
            opened.store(true, ordering: .releasing)
            waiting.withLock { list in defer { list = [] }; return list }.forEach { $0.resume() }
        }
    }

    func testTheDeadlineHoldsWhenTheWorkIgnoresItsCancellation() async {
        let gate = Gate()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let outcome = await Deadline.race(.now() + .milliseconds(20), on: loop) { () async throws -> Int in
            await gate.wait()  // deaf to cancellation, like a pooled connection nobody answers on
            return 1
        }
        XCTAssertNil(outcome, "the deadline came first")
        gate.open()
        let answered = await Deadline.race(.now() + .seconds(600), on: loop) { () async throws -> Int in 2 }
        guard case .success(2)? = answered else { return XCTFail("\(String(describing: answered))") }
    }

    func testAStopDrainsTheQueuedJobs() async {
        let queue = UploadQueue(limit: 16)
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let count = Count()
        for _ in 0..<10 {
            XCTAssertTrue(queue.offer { _ = count.value.add(1, ordering: .relaxed) })
        }
        let left = await queue.close(drainingFor: .seconds(600))
        XCTAssertEqual(left, 0)
        XCTAssertEqual(count.value.load(ordering: .relaxed), 10, "queued jobs run at the stop, not dropped")
    }

    func testAStopCountsWhatItCouldNotDrainWithinItsBound() async {
        let queue = UploadQueue(limit: 16)
        for _ in 0..<7 {
            // An upload to a bucket that does not answer: it ends only when cancelled.
            XCTAssertTrue(queue.offer { _ = try? await Task.sleep(for: .seconds(600)) })
        }
        XCTAssertTrue(queue.offer { })
        let left = await queue.close(drainingFor: .milliseconds(20))
        // Four were running and were cancelled, three waited behind them, and the last never ran in time.
        XCTAssertEqual(left, 8)
    }

    func testFailingUploadsNeverStopLookups() throws {
        let tier = TierFixture.tier(MemoryObjectStore(), #""breaker_failures": 2"#)
        for _ in 0..<2 { tier.writeBreaker.record(failed: true) }
        XCTAssertEqual(tier.statistics.writeBreaker, "open")
        XCTAssertEqual(tier.statistics.readBreaker, "closed")
        XCTAssertTrue(tier.readBreaker.permit(), "lookups still go out")
        let body = Array("answer".utf8)
        let upload = SharedUpload(place: SharedPlace(upstream: "0123456789abcdef", credential: nil)!,
                                  requestCID: CID.forContent(Array("request".utf8)), body: body,
                                  contentCID: CID.forContent(body), created: 0, expires: Int(Date().timeIntervalSince1970) + 3600,
                                  tokens: nil, costUSD: nil)
        XCTAssertFalse(tier.publish(upload), "uploads are dropped while their breaker is open")
        XCTAssertEqual(tier.statistics.uploadDropped, 1)
        for _ in 0..<2 { tier.readBreaker.record(failed: true) }
        XCTAssertEqual(tier.statistics.readBreaker, "open")
    }

    func testTheNewerRecordWins() {
        XCTAssertTrue(SharedTier.replaces(created: 100, standing: nil), "nothing that serves stands there")
        XCTAssertTrue(SharedTier.replaces(created: 101, standing: 100), "a refresh replaces a live record")
        XCTAssertFalse(SharedTier.replaces(created: 100, standing: 100), "an equal one is kept: no write for nothing")
        XCTAssertFalse(SharedTier.replaces(created: 99, standing: 100), "an older record never replaces a newer one")
    }
}
