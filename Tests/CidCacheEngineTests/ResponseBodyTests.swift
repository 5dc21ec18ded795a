import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Synchronization
import XCTest

final class ResponseBodyTests: XCTestCase {
    /// A second end arriving while the first runs its completions (between its
    /// two lock sections) is ignored: readers see the first end only.
    func testOnlyTheFirstEndCounts() {
        let body = ResponseBody()
        let completions = Atomic<Int>(0)
        body.whenComplete { _ in
            completions.add(1, ordering: .relaxed)
            body.fail(CacheError(.io, "a late failure"))
        }
        body.append([1, 2, 3])
        body.finish()
        XCTAssertEqual(completions.load(ordering: .relaxed), 1)
        let ended = expectation(description: "read at the end")
        body.read(at: 3, limit: 10) { chunk in
            if case .end = chunk { ended.fulfill() } else { XCTFail("\(chunk)") }
        }
        wait(for: [ended], timeout: 1)
    }
}

/// The body read as an `AsyncSequence`: pieces in order, what is there now,
/// and a reader that is cancelled while it waits.
final class ResponseBodyPiecesTests: XCTestCase {
    func testPiecesComeInOrderWhileTheBodyGrows() async throws {
        let body = ResponseBody()
        let reader = Task {
            var pieces: [[UInt8]] = []
            for try await piece in body.pieces(size: 2) { pieces.append(Array(piece)) }
            return pieces
        }
        body.append([1, 2, 3])
        body.append([4])
        body.append([5, 6])
        body.finish()
        let pieces = try await reader.value
        XCTAssertEqual(pieces.flatMap { $0 }, [1, 2, 3, 4, 5, 6])
        XCTAssertTrue(pieces.allSatisfy { $0.count <= 2 && !$0.isEmpty })
        let fromTheMiddle = try await body.pieces(from: 4).reduce(into: [UInt8]()) { $0 += $1 }
        XCTAssertEqual(fromTheMiddle, [5, 6])
    }

    func testAFailureEndsTheIterationAfterTheBytesBeforeIt() async throws {
        let body = ResponseBody()
        body.append([1, 2])
        body.fail(CacheError(.io, "cut short"))
        var read: [UInt8] = []
        do {
            for try await piece in body { read += piece }
            XCTFail("the failure was not thrown")
        } catch let error as CacheError {
            XCTAssertEqual(error.message, "cut short")
        }
        XCTAssertEqual(read, [1, 2])
    }

    func testBytesAvailableNowNeverWait() {
        let body = ResponseBody()
        XCTAssertNil(body.availableNow(at: 0, limit: 8), "nothing there yet")
        body.append([1, 2, 3])
        guard case .bytes(let first)? = body.availableNow(at: 0, limit: 2) else { return XCTFail("no bytes") }
        XCTAssertEqual(Array(first), [1, 2])
        XCTAssertNil(body.availableNow(at: 3, limit: 8), "the rest has not come")
        body.finish()
        guard case .end? = body.availableNow(at: 3, limit: 8) else { return XCTFail("no end") }
    }

    func testAStoredAnswerIsWholeAtOnce() async throws {
        let bytes = Array("a stored answer".utf8)
        let body = ResponseBody(stored: StoredBytes(memory: bytes))
        guard case .bytes(let whole)? = body.availableNow(at: 0, limit: bytes.count) else { return XCTFail("not available") }
        XCTAssertEqual(Array(whole), bytes)
        guard case .end? = body.availableNow(at: bytes.count, limit: 8) else { return XCTFail("no end") }
        let collected = try await body.collect()
        XCTAssertEqual(collected, bytes)
    }

    func testCancellingTheReaderEndsTheIterationAndDropsItsWait() async throws {
        let body = ResponseBody()
        body.append([1])
        let reader = Task {
            var read: [UInt8] = []
            for try await piece in body { read += piece }
            return read
        }
        // Until the reader has read the first byte and waits for more.
        while body.waitingReads == 0 { await Task.yield() }
        reader.cancel()
        let outcome = await reader.result
        guard case .failure(let error) = outcome else { return XCTFail("the iteration went on: \(outcome)") }
        XCTAssertTrue(error is CancellationError, "\(error)")
        XCTAssertEqual(body.waitingReads, 0, "the cancelled wait holds nothing")
        body.append([2])
        body.finish()
        let again = try await body.collect()
        XCTAssertEqual(again, [1, 2], "the body itself goes on for other readers")
    }

    func testAReaderCancelledBeforeItWaitsNeverWaits() async {
        let body = ResponseBody()
        let reader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await body.collect()
        }
        let outcome = await reader.result
        guard case .failure(let error) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(error is CancellationError, "\(error)")
        XCTAssertEqual(body.waitingReads, 0)
    }
}

/// A hit of the engine: its body is whole at once, so a front answers it without suspending.
final class StoredAnswerFastPathTests: EchoEngineTestCase {
    func testAHitsBytesAreAvailableNow() async throws {
        let first = try await engine.finish(try start("hello"))
        _ = try await first.body.collect()
        guard case .answered(let hit) = engine.start(namespace: "exec", op: "echo", body: echo("hello"), pid: 0) else {
            return XCTFail("not answered from the store")
        }
        XCTAssertEqual(hit.outcome, .hit)
        let size = Int(hit.entry?.size ?? 0)
        guard case .bytes(let bytes)? = hit.body.availableNow(at: 0, limit: size) else { return XCTFail("not available now") }
        XCTAssertEqual(bytes.count, size)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "hello")
    }
}
