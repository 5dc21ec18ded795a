@testable import CidCacheFUSE
import Dispatch
import Foundation
import Synchronization
import XCTest

/// The rules of the mount's reply gate, with integers for requests: each
/// parked request is answered exactly once, by its owner or by `close`, and
/// nothing is answered after `close` returns.
final class ReplyGateTests: XCTestCase {
    /// What the replies sent, in order; shared with the threads that answer.
    private final class Sent: Sendable {
        private let log = Mutex<[String]>([])

        func record(_ line: String) { log.withLock { $0.append(line) } }
        var lines: [String] { log.withLock { $0 } }
    }

    private let sent = Sent()

    func testAParkedRequestIsAnsweredOnce() throws {
        let gate = ReplyGate<Int>()
        let parked = try XCTUnwrap(gate.park(1))
        XCTAssertTrue(gate.isPending(parked))
        XCTAssertTrue(gate.reply(parked) { sent.record("answer \($0)") })
        XCTAssertFalse(gate.isPending(parked))
        XCTAssertFalse(gate.reply(parked) { sent.record("again \($0)") })
        XCTAssertEqual(gate.close { sent.record("fail \($0)") }, 0)
        XCTAssertEqual(sent.lines, ["answer 1"])
    }

    func testCloseFailsWhatIsParkedAndLaterRepliesAreDropped() throws {
        let gate = ReplyGate<Int>()
        let first = try XCTUnwrap(gate.park(1))
        let second = try XCTUnwrap(gate.park(2))
        let third = try XCTUnwrap(gate.park(3))
        gate.reply(second) { sent.record("answer \($0)") }
        XCTAssertEqual(gate.close { sent.record("fail \($0)") }, 2)
        // The upstream answers after the stop: nothing may reach the session now.
        XCTAssertFalse(gate.reply(first) { sent.record("late \($0)") })
        XCTAssertFalse(gate.reply(third) { sent.record("late \($0)") })
        XCTAssertNil(gate.park(4), "a closed gate parks nothing: the callback answers at once")
        XCTAssertEqual(gate.close { sent.record("fail again \($0)") }, 0)
        XCTAssertEqual(sent.lines, ["answer 2", "fail 1", "fail 3"])
    }

    func testRegistrationRunsBeforeAnyoneCanAnswer() throws {
        let sent = self.sent
        let gate = ReplyGate<Int>()
        var seen: ReplyGate<Int>.Parked?
        let parked = try XCTUnwrap(gate.park { parked in
            seen = parked
            // An interrupt that libfuse delivers during the registration answers later.
            DispatchQueue.global().async { gate.reply(parked) { sent.record("interrupted \($0)") } }
            return 7
        })
        XCTAssertEqual(seen, parked)
        let answered = expectation(description: "the interrupt answers")
        DispatchQueue.global().async {
            while gate.isPending(parked) { usleep(1000) }
            answered.fulfill()
        }
        wait(for: [answered], timeout: 5)
        XCTAssertFalse(gate.reply(parked) { sent.record("answer \($0)") })
        XCTAssertEqual(sent.lines, ["interrupted 7"])
    }

    /// Replies go to the token the registration returned (for a query read:
    /// the request with its interrupt hook), and the gate keeps none once answered.
    func testRepliesGoToTheRegisteredToken() throws {
        let gate = ReplyGate<Int>()
        let parked = try XCTUnwrap(gate.park { parked in Int(parked.serial) + 100 })
        XCTAssertEqual(gate.parkedCount, 1)
        XCTAssertTrue(gate.reply(parked) { sent.record("answer \($0)") })
        XCTAssertEqual(gate.parkedCount, 0)
        XCTAssertEqual(sent.lines, ["answer \(parked.serial + 100)"])
    }

    func testAClosedGateRunsNoRegistration() {
        let gate = ReplyGate<Int>()
        gate.close { _ in }
        var ran = false
        XCTAssertNil(gate.park { _ in ran = true; return 1 })
        XCTAssertFalse(ran)
    }

    /// `close` returns only once a reply already under way has been sent, so
    /// the session can be destroyed right after it.
    func testCloseWaitsForAReplyUnderWay() throws {
        let sent = self.sent
        let gate = ReplyGate<Int>()
        let parked = try XCTUnwrap(gate.park(1))
        let replying = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            gate.reply(parked) { token in
                replying.signal()
                release.wait()
                sent.record("answer \(token)")
            }
        }
        replying.wait()
        let closed = Atomic<Bool>(false)
        let done = expectation(description: "close returns")
        DispatchQueue.global().async {
            gate.close { sent.record("fail \($0)") }
            closed.store(true, ordering: .sequentiallyConsistent)
            done.fulfill()
        }
        usleep(200_000)
        XCTAssertFalse(closed.load(ordering: .sequentiallyConsistent), "close returned while a reply was being sent")
        release.signal()
        wait(for: [done], timeout: 5)
        XCTAssertEqual(sent.lines, ["answer 1"])
    }

    /// Many owners answer while the mount stops: every request is answered
    /// exactly once, either by its owner or by `close`.
    func testEveryRequestIsAnsweredExactlyOnceUnderARace() throws {
        for _ in 0..<20 {
            let gate = ReplyGate<Int>()
            let parked = (0..<200).compactMap { gate.park($0) }
            let answers = Mutex<[Int: Int]>([:])
            let count: @Sendable (Int) -> Void = { token in answers.withLock { $0[token, default: 0] += 1 } }
            let owners = DispatchGroup()
            for chunk in stride(from: 0, to: parked.count, by: 20) {
                DispatchQueue.global().async(group: owners) {
                    for request in parked[chunk..<chunk + 20] { gate.reply(request, count) }
                }
            }
            gate.close(failing: count)
            owners.wait()
            XCTAssertEqual(answers.withLock { $0.count }, 200)
            XCTAssertTrue(answers.withLock { $0.values.allSatisfy { $0 == 1 } })
        }
    }
}
