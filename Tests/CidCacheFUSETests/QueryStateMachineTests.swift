import CidCacheCore
import CidCacheEngine
@testable import CidCacheFUSE
import Glibc
import XCTest

/// The query transaction's rules, event by event, with no kernel and no engine.
final class QueryStateMachineTests: XCTestCase {
    typealias Machine = QueryTransaction<FakeRequest>.StateMachine

    private func read(_ serial: UInt64) -> Machine.Read { Machine.Read(serial: serial) }
    private func bytes(_ text: String) -> ArraySlice<UInt8> { ArraySlice(Array(text.utf8)) }

    /// A machine that took `request` and sent it with read 1.
    private func sent(_ request: String = "{}", limit: Int = 1 << 20) -> Machine {
        var machine = Machine(limit: limit)
        _ = machine.write(Array(request.utf8))
        XCTAssertEqual(machine.read(read(1), size: 100), .start(Array(request.utf8)))
        return machine
    }

    private func isAccepted(_ action: Machine.WriteAction, _ count: Int) -> Bool {
        if case .accept(count) = action { return true }
        return false
    }

    private func refusal(_ action: Machine.WriteAction) -> CacheError.Kind? {
        if case .refuse(let error) = action { return error.kind }
        return nil
    }

    // MARK: Writing

    func testWritesCollectTheRequestAndTheFirstReadSendsIt() {
        var machine = Machine(limit: 100)
        XCTAssertTrue(isAccepted(machine.write(Array("{\"a\":".utf8)), 5))
        XCTAssertTrue(isAccepted(machine.write(Array("1}".utf8)), 2))
        XCTAssertEqual(machine.read(read(1), size: 10), .start(Array("{\"a\":1}".utf8)))
        XCTAssertEqual(machine.pendingReads, [read(1)])
    }

    func testAReadWithNothingWrittenSendsTheEmptyRequest() {
        var machine = Machine(limit: 100)
        XCTAssertEqual(machine.read(read(1), size: 10), .start([]))
    }

    func testARequestPastTheLimitFailsEveryWriteAndReadWithEFBIG() {
        var machine = Machine(limit: 4)
        XCTAssertTrue(isAccepted(machine.write(Array("abcd".utf8)), 4), "exactly at the limit is fine")
        XCTAssertEqual(refusal(machine.write(Array("e".utf8))), .tooLarge)
        XCTAssertEqual(refusal(machine.write(Array("f".utf8))), .tooLarge)
        XCTAssertEqual(machine.read(read(1), size: 10), .reply(read(1), .error(EFBIG), then: nil))
        XCTAssertEqual(machine.read(read(2), size: 10), .reply(read(2), .error(EFBIG), then: nil))
        XCTAssertEqual(machine.pendingReads, [])
    }

    func testAWriteAfterTheRequestWasSentIsRefusedInEveryLaterState() {
        var waiting = sent()
        XCTAssertEqual(refusal(waiting.write([1])), .invalidRequest)
        var answered = sent()
        _ = answered.answered(ResponseBody(complete: [1]))
        XCTAssertEqual(refusal(answered.write([1])), .invalidRequest)
        var failed = sent()
        _ = failed.failed(EIO)
        XCTAssertEqual(refusal(failed.write([1])), .invalidRequest)
        var released = Machine(limit: 10)
        _ = released.released()
        XCTAssertEqual(refusal(released.write([1])), .invalidRequest)
    }

    // MARK: Answers

    func testAnAnswerServesTheOldestReadAtTheStart() {
        var machine = sent()
        let body = ResponseBody(complete: Array("hello".utf8))
        XCTAssertEqual(machine.answered(body), .serve(.init(read: read(1), body: body, offset: 0, size: 100)))
    }

    func testReadsStreamTheBodyToTheEndAndEveryLaterReadIsEmpty() {
        var machine = Machine(limit: 100)
        let body = ResponseBody(complete: Array("hello".utf8))
        XCTAssertEqual(machine.read(read(1), size: 2), .start([]))
        XCTAssertEqual(machine.answered(body), .serve(.init(read: read(1), body: body, offset: 0, size: 2)))
        XCTAssertEqual(machine.chunk(.bytes(bytes("he")), for: read(1)), .reply(read(1), .bytes(bytes("he")), then: nil))
        XCTAssertEqual(machine.read(read(2), size: 2), .serve(.init(read: read(2), body: body, offset: 2, size: 2)))
        XCTAssertEqual(machine.chunk(.bytes(bytes("ll")), for: read(2)), .reply(read(2), .bytes(bytes("ll")), then: nil))
        XCTAssertEqual(machine.read(read(3), size: 2), .serve(.init(read: read(3), body: body, offset: 4, size: 2)))
        XCTAssertEqual(machine.chunk(.bytes(bytes("o")), for: read(3)), .reply(read(3), .bytes(bytes("o")), then: nil))
        for serial in UInt64(4)...6 {
            XCTAssertEqual(machine.read(read(serial), size: 2), .serve(.init(read: read(serial), body: body, offset: 5, size: 2)))
            XCTAssertEqual(machine.chunk(.end, for: read(serial)), .reply(read(serial), .end, then: nil))
        }
        XCTAssertEqual(machine.pendingReads, [])
    }

    func testASecondReadWhileOneIsParkedWaitsItsTurn() {
        var machine = sent()
        XCTAssertEqual(machine.read(read(2), size: 3), .park)
        XCTAssertEqual(machine.pendingReads, [read(1), read(2)])
        let body = ResponseBody()
        XCTAssertEqual(machine.answered(body), .serve(.init(read: read(1), body: body, offset: 0, size: 100)))
        // A third read while the first is served also waits.
        XCTAssertEqual(machine.read(read(3), size: 4), .park)
        XCTAssertEqual(machine.chunk(.bytes(bytes("abcdef")), for: read(1)),
                       .reply(read(1), .bytes(bytes("abcdef")), then: .init(read: read(2), body: body, offset: 6, size: 3)))
        XCTAssertEqual(machine.chunk(.bytes(bytes("ghi")), for: read(2)),
                       .reply(read(2), .bytes(bytes("ghi")), then: .init(read: read(3), body: body, offset: 9, size: 4)))
        XCTAssertEqual(machine.chunk(.end, for: read(3)), .reply(read(3), .end, then: nil))
        XCTAssertEqual(machine.pendingReads, [])
    }

    func testAFailureFailsEveryWaitingReadAndEveryLaterOne() {
        var machine = sent()
        XCTAssertEqual(machine.read(read(2), size: 10), .park)
        XCTAssertEqual(machine.failed(ETIMEDOUT), .fail([read(1), read(2)], ETIMEDOUT))
        XCTAssertEqual(machine.read(read(3), size: 10), .reply(read(3), .error(ETIMEDOUT), then: nil))
        XCTAssertEqual(machine.pendingReads, [])
    }

    func testAFailureWithNoReadLeftIsKeptForTheNext() {
        var machine = sent()
        XCTAssertEqual(machine.interrupted(read(1)), .reply(read(1), .error(EINTR), then: nil))
        XCTAssertEqual(machine.failed(EBUSY), .none)
        XCTAssertEqual(machine.read(read(2), size: 10), .reply(read(2), .error(EBUSY), then: nil))
    }

    func testABodyCutShortGivesItsBytesThenTheErrnoOnEveryLaterRead() {
        var machine = sent()
        let body = ResponseBody()
        _ = machine.answered(body)
        XCTAssertEqual(machine.chunk(.bytes(bytes("part")), for: read(1)), .reply(read(1), .bytes(bytes("part")), then: nil))
        let cut = CacheError(.io, "the stream ended early")
        XCTAssertEqual(machine.read(read(2), size: 10), .serve(.init(read: read(2), body: body, offset: 4, size: 10)))
        XCTAssertEqual(machine.chunk(.failed(cut), for: read(2)), .reply(read(2), .error(EIO), then: nil))
        // The cursor stays: the next read asks the body again, and gets the failure again.
        XCTAssertEqual(machine.read(read(3), size: 10), .serve(.init(read: read(3), body: body, offset: 4, size: 10)))
        XCTAssertEqual(machine.chunk(.failed(cut), for: read(3)), .reply(read(3), .error(EIO), then: nil))
    }

    func testAnAnswerOrFailureOutsideTheWaitIsIgnored() {
        var writing = Machine(limit: 10)
        XCTAssertEqual(writing.answered(ResponseBody(complete: [])), .none)
        XCTAssertEqual(writing.failed(EIO), .none)
        XCTAssertEqual(writing.read(read(1), size: 1), .start([]), "still writing")
        var failed = sent()
        _ = failed.failed(EIO)
        XCTAssertEqual(failed.answered(ResponseBody(complete: [])), .none)
        XCTAssertEqual(failed.read(read(2), size: 1), .reply(read(2), .error(EIO), then: nil))
    }

    /// The engine answers once: a second answer or failure, or a chunk in a
    /// state that serves nothing, changes nothing.
    func testEventsThatCannotComeInAStateChangeNothing() {
        var answered = sent()
        let body = ResponseBody(complete: [1])
        _ = answered.answered(body)
        XCTAssertEqual(answered.answered(ResponseBody(complete: [2])), .none)
        XCTAssertEqual(answered.failed(EIO), .none)
        XCTAssertEqual(answered.pendingReads, [read(1)])
        XCTAssertEqual(answered.chunk(.bytes([1]), for: read(1)), .reply(read(1), .bytes([1]), then: nil))

        var tooLarge = Machine(limit: 0)
        _ = tooLarge.write([1])
        var failed = sent()
        _ = failed.failed(EIO)
        var writing = Machine(limit: 10)
        for machine in [tooLarge, failed, writing] {
            var machine = machine
            XCTAssertEqual(machine.chunk(.end, for: read(1)), .none)
            XCTAssertEqual(machine.released(), .none)
        }
        XCTAssertEqual(writing.failed(EIO), .none)
    }

    func testAChunkForAReadNotBeingServedIsIgnored() {
        var machine = sent()
        XCTAssertEqual(machine.chunk(.end, for: read(1)), .none, "no answer yet")
        _ = machine.answered(ResponseBody(complete: [1]))
        XCTAssertEqual(machine.chunk(.end, for: read(9)), .none)
        XCTAssertEqual(machine.pendingReads, [read(1)])
    }

    // MARK: Interrupts

    func testAnInterruptWhileWaitingFailsTheReadWithEINTRAndTheRequestGoesOn() {
        var machine = sent()
        XCTAssertEqual(machine.interrupted(read(1)), .reply(read(1), .error(EINTR), then: nil))
        XCTAssertEqual(machine.pendingReads, [])
        let body = ResponseBody(complete: Array("late".utf8))
        XCTAssertEqual(machine.answered(body), .none, "nobody waits, but the answer is kept")
        XCTAssertEqual(machine.read(read(2), size: 10), .serve(.init(read: read(2), body: body, offset: 0, size: 10)))
    }

    func testAnInterruptOfAQueuedReadLeavesTheOthers() {
        var machine = sent()
        _ = machine.read(read(2), size: 10)
        _ = machine.read(read(3), size: 10)
        XCTAssertEqual(machine.interrupted(read(2)), .reply(read(2), .error(EINTR), then: nil))
        XCTAssertEqual(machine.pendingReads, [read(1), read(3)])
        let body = ResponseBody()
        _ = machine.answered(body)
        XCTAssertEqual(machine.read(read(4), size: 10), .park)
        XCTAssertEqual(machine.interrupted(read(4)), .reply(read(4), .error(EINTR), then: nil))
        XCTAssertEqual(machine.chunk(.bytes(bytes("x")), for: read(1)),
                       .reply(read(1), .bytes(bytes("x")), then: .init(read: read(3), body: body, offset: 1, size: 10)))
    }

    func testAnInterruptOfTheReadBeingServedHandsTheTurnOnAndDropsItsChunk() {
        var machine = sent()
        _ = machine.read(read(2), size: 10)
        let body = ResponseBody()
        _ = machine.answered(body)
        XCTAssertEqual(machine.interrupted(read(1)),
                       .reply(read(1), .error(EINTR), then: .init(read: read(2), body: body, offset: 0, size: 10)))
        XCTAssertEqual(machine.chunk(.bytes(bytes("abc")), for: read(1)), .none, "the interrupted read's chunk")
        XCTAssertEqual(machine.chunk(.bytes(bytes("abc")), for: read(2)), .reply(read(2), .bytes(bytes("abc")), then: nil))
        XCTAssertEqual(machine.read(read(3), size: 10), .serve(.init(read: read(3), body: body, offset: 3, size: 10)))
    }

    func testAnInterruptAfterTheReplyOrOfAnUnknownReadIsIgnoredInEveryState() {
        var writing = Machine(limit: 10)
        XCTAssertEqual(writing.interrupted(read(1)), .none)
        var tooLarge = Machine(limit: 0)
        _ = tooLarge.write([1])
        _ = tooLarge.read(read(1), size: 1)
        XCTAssertEqual(tooLarge.interrupted(read(1)), .none)
        var waiting = sent()
        XCTAssertEqual(waiting.interrupted(read(7)), .none)
        var answered = sent()
        let body = ResponseBody(complete: [1])
        _ = answered.answered(body)
        _ = answered.chunk(.bytes([1]), for: read(1))
        XCTAssertEqual(answered.interrupted(read(1)), .none, "answered already")
        var failed = sent()
        _ = failed.failed(EIO)
        XCTAssertEqual(failed.interrupted(read(1)), .none)
        var released = sent()
        _ = released.released()
        XCTAssertEqual(released.interrupted(read(1)), .none)
    }

    // MARK: Release

    func testAReleaseWhileReadsAreParkedFailsThemAndDropsTheLateAnswer() {
        var machine = sent()
        _ = machine.read(read(2), size: 10)
        XCTAssertEqual(machine.released(), .fail([read(1), read(2)], EBADF))
        XCTAssertEqual(machine.pendingReads, [])
        XCTAssertEqual(machine.answered(ResponseBody(complete: [1])), .none)
        XCTAssertEqual(machine.failed(EIO), .none)
        XCTAssertEqual(machine.read(read(3), size: 10), .reply(read(3), .error(EBADF), then: nil))
        guard case .released = machine.state else { return XCTFail("\(machine.state)") }
    }

    func testAReleaseWhileServingFailsTheServedAndQueuedReads() {
        var machine = sent()
        _ = machine.answered(ResponseBody())
        _ = machine.read(read(2), size: 10)
        XCTAssertEqual(machine.released(), .fail([read(1), read(2)], EBADF))
        XCTAssertEqual(machine.chunk(.end, for: read(1)), .none)
    }

    func testAReleaseWithNoReadDoesNothing() {
        var writing = Machine(limit: 10)
        XCTAssertEqual(writing.released(), .none)
        var answered = sent()
        _ = answered.answered(ResponseBody(complete: []))
        _ = answered.chunk(.end, for: read(1))
        XCTAssertEqual(answered.released(), .none)
        XCTAssertEqual(answered.released(), .none, "twice")
    }

    // MARK: Bounds

    /// Reads are kept while unanswered only: none accumulate over a long stream.
    func testNothingIsKeptPerReadOnceAnswered() {
        var machine = sent()
        let body = Array(repeating: UInt8(7), count: 10_000)
        let response = ResponseBody(complete: body)
        _ = machine.answered(response)
        _ = machine.chunk(.bytes(body[0..<10]), for: read(1))
        for serial in UInt64(2)..<1002 {
            guard case .serve(let serve) = machine.read(read(serial), size: 10) else { return XCTFail("not served") }
            XCTAssertEqual(machine.pendingReads, [read(serial)])
            let chunk = serve.offset < body.count ? ResponseBody.Chunk.bytes(body[serve.offset..<serve.offset + 10]) : .end
            _ = machine.chunk(chunk, for: read(serial))
            XCTAssertEqual(machine.pendingReads, [])
        }
        guard case .answered(let answering) = machine.state else { return XCTFail("\(machine.state)") }
        XCTAssertEqual(answering.cursor, 10_000)
        XCTAssertTrue(answering.queue.isEmpty && answering.serving == nil)
    }
}
