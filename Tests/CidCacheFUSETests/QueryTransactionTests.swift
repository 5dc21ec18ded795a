import CidCacheCore
import CidCacheEngine
import CidCacheUpstreams
@testable import CidCacheFUSE
import Foundation
import Glibc
import XCTest

/// The driver: a query transaction over a real engine (its upstreams local
/// commands) and fake kernel requests. Every reply is checked to be made
/// outside the transaction's lock, and every interrupt handler to be gone
/// once its read is answered.
final class QueryTransactionTests: XCTestCase {
    private var directory: String!
    private var runs: String!
    private var engine: CacheEngine!
    private var kernel: FakeKernel!
    private var gate: ReplyGate<FakeRequest>!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-query-\(UUID().uuidString)"
        runs = directory + "-runs"
        var config = CacheConfig()
        config.requestLimitBytes = 64
        // Each run adds a line to `runs`: the upstream calls, counted.
        config.execCommands = [
            "echo": ExecCommand(argv: ["/bin/sh", "-c", "echo run >> \"$0\"; cat", runs]),
            "slow": ExecCommand(argv: ["/bin/sh", "-c", "echo run >> \"$0\"; sleep 0.6; cat", runs]),
        ]
        engine = try CacheEngine(dataDirectory: directory, config: config, environment: [:], truncateLogs: true)
        kernel = FakeKernel()
        gate = ReplyGate()
    }

    override func tearDown() async throws {
        XCTAssertEqual(kernel.repliesUnderALock, 0, "a reply was made under the transaction's lock")
        await engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: runs)
    }

    private var upstreamCalls: Int {
        ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    private func transaction(_ op: String = "echo") -> QueryTransaction<FakeRequest> {
        let transaction = QueryTransaction(namespace: "exec", op: op, engine: engine, gate: gate)
        kernel.watch { [weak transaction] in transaction?.isUnlocked ?? true }
        return transaction
    }

    @discardableResult
    private func write(_ transaction: QueryTransaction<FakeRequest>, _ text: String) -> [FakeKernel.Reply] {
        let request = kernel.request()
        Array(text.utf8).withUnsafeBytes { transaction.write(request, bytes: $0) }
        return kernel.replies(request.id)
    }

    private func read(_ transaction: QueryTransaction<FakeRequest>, size: Int = 1 << 16) -> FakeRequest {
        let request = kernel.request()
        transaction.read(request, size: size)
        return request
    }

    private func text(_ replies: [FakeKernel.Reply]) -> String? {
        guard replies.count == 1, case .bytes(let bytes) = replies[0] else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Nothing left: no read waiting, nothing parked, no interrupt handler set.
    private func assertSettled(_ transaction: QueryTransaction<FakeRequest>, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(transaction.pendingReads, 0, file: file, line: line)
        XCTAssertEqual(gate.parkedCount, 0, file: file, line: line)
        XCTAssertEqual(kernel.handlersLeft, 0, file: file, line: line)
    }

    func testAHitIsAnsweredOnTheCallingThreadAndReadsGoOnToTheEnd() async throws {
        _ = try await engine.query(namespace: "exec", op: "echo", body: Array(#"{"stdin": "hello"}"#.utf8), pid: 0).body.collect()
        let query = transaction()
        XCTAssertEqual(write(query, #"{"stdin": "hello"}"#), [.written(18)])
        // Answered before `read` returns: no task, no hop.
        XCTAssertEqual(text(kernel.replies(read(query, size: 3).id)), "hel")
        XCTAssertEqual(text(kernel.replies(read(query, size: 3).id)), "lo")
        XCTAssertEqual(kernel.replies(read(query).id), [.bytes([])])
        XCTAssertEqual(kernel.replies(read(query).id), [.bytes([])])
        XCTAssertEqual(upstreamCalls, 1)
        assertSettled(query)
    }

    func testAMissIsAnsweredFromTheUpstream() throws {
        let query = transaction()
        write(query, #"{"stdin": "from upstream"}"#)
        let first = read(query, size: 4)
        XCTAssertEqual(text(kernel.awaitReply(first.id)), "from")
        var rest = ""
        while case let chunk? = text(kernel.replies(read(query, size: 4).id)), !chunk.isEmpty { rest += chunk }
        XCTAssertEqual(rest, " upstream")
        XCTAssertEqual(upstreamCalls, 1)
        assertSettled(query)
    }

    func testReadsWaitingTogetherAreServedInTurn() throws {
        let query = transaction("slow")
        write(query, #"{"stdin": "abcdef"}"#)
        let reads = (0..<3).map { _ in read(query, size: 2) }
        XCTAssertEqual(query.pendingReads, 3)
        XCTAssertEqual(reads.map { text(kernel.awaitReply($0.id)) }, ["ab", "cd", "ef"])
        XCTAssertEqual(kernel.replies(read(query).id), [.bytes([])])
        assertSettled(query)
    }

    func testAnInterruptedReadGetsEINTRAndTheFetchGoesOn() throws {
        let query = transaction("slow")
        write(query, #"{"stdin": "patience"}"#)
        let waiting = read(query)
        XCTAssertEqual(kernel.replies(waiting.id), [])
        let sent = Date()
        kernel.interrupt(waiting.id)
        XCTAssertEqual(kernel.awaitReply(waiting.id), [.error(EINTR)])
        XCTAssertLessThan(Date().timeIntervalSince(sent), 0.3, "EINTR at once, not after the upstream")
        // The same open reads the answer once it comes; the upstream ran once.
        XCTAssertEqual(text(kernel.awaitReply(read(query).id)), "patience")
        XCTAssertEqual(upstreamCalls, 1)
        assertSettled(query)
    }

    /// libfuse calls the handler as it is set when the interrupt came first.
    func testAReadInterruptedBeforeItsHandlerIsSetGetsEINTR() throws {
        let query = transaction("slow")
        write(query, #"{"stdin": "early"}"#)
        let request = kernel.request()
        kernel.interrupt(request.id)
        query.read(request, size: 100)
        XCTAssertEqual(kernel.awaitReply(request.id), [.error(EINTR)])
        XCTAssertEqual(text(kernel.awaitReply(read(query).id)), "early")
        assertSettled(query)
    }

    func testAnInterruptAfterTheReplyIsIgnored() async throws {
        _ = try await engine.query(namespace: "exec", op: "echo", body: Array(#"{"stdin": "x"}"#.utf8), pid: 0).body.collect()
        let query = transaction()
        write(query, #"{"stdin": "x"}"#)
        let done = read(query)
        kernel.interrupt(done.id)
        usleep(50_000)
        XCTAssertEqual(kernel.replies(done.id), [.bytes(Array("x".utf8))])
        assertSettled(query)
    }

    func testARefusedRequestIsItsErrnoOnEveryReadAndAWriteAfterIsEINVAL() {
        let query = transaction()
        write(query, "{not json")
        XCTAssertEqual(kernel.replies(read(query).id), [.error(EINVAL)])
        XCTAssertEqual(kernel.replies(read(query).id), [.error(EINVAL)])
        XCTAssertEqual(write(query, "{}"), [.error(EINVAL)], "one transaction per open")
        XCTAssertEqual(upstreamCalls, 0)
        assertSettled(query)
    }

    func testARequestPastTheLimitIsEFBIG() {
        let query = transaction()
        XCTAssertEqual(write(query, String(repeating: " ", count: 64)), [.written(64)])
        XCTAssertEqual(write(query, "{"), [.error(EFBIG)])
        XCTAssertEqual(write(query, "}"), [.error(EFBIG)])
        XCTAssertEqual(kernel.replies(read(query).id), [.error(EFBIG)])
        XCTAssertEqual(upstreamCalls, 0)
        assertSettled(query)
    }

    func testAReadWhileTheMountStopsIsENOTCONNAndTheLateAnswerIsDropped() throws {
        let query = transaction("slow")
        write(query, #"{"stdin": "too late"}"#)
        let waiting = read(query)
        XCTAssertEqual(gate.close { $0.error(ENOTCONN) }, 1)
        XCTAssertEqual(kernel.replies(waiting.id), [.error(ENOTCONN)])
        XCTAssertEqual(kernel.replies(read(query).id), [.error(ENOTCONN)], "a closed gate parks nothing")
        // The upstream answers later: nothing more reaches the requests.
        usleep(1_200_000)
        XCTAssertEqual(upstreamCalls, 1)
        XCTAssertEqual(kernel.replies(waiting.id), [.error(ENOTCONN)])
        XCTAssertEqual(kernel.handlersLeft, 0)
    }

    func testAReleaseLetsTheFetchFillTheCache() async throws {
        let query = transaction("slow")
        write(query, #"{"stdin": "left behind"}"#)
        let waiting = read(query)
        kernel.interrupt(waiting.id)
        XCTAssertEqual(kernel.awaitReply(waiting.id), [.error(EINTR)])
        query.release()
        assertSettled(query)
        // The departed reader's fetch lands; a later query is a hit.
        var answer: Answer?
        for _ in 0..<100 {
            answer = try await engine.query(namespace: "exec", op: "slow", body: Array(#"{"stdin": "left behind"}"#.utf8), pid: 0)
            if answer?.outcome == .hit { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let bytes = try await answer?.body.collect()
        XCTAssertEqual(bytes, Array("left behind".utf8))
        XCTAssertEqual(upstreamCalls, 1)
    }
}
