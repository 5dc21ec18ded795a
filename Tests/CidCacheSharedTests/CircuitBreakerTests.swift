import XCTest
@testable import CidCacheShared

/// The breaker as a pure state machine: events in, permits out.
final class CircuitBreakerTests: XCTestCase {
    func breaker() -> CircuitBreaker {
        CircuitBreaker(failureThreshold: 3, openInterval: 100, maximumOpenInterval: 350)
    }

    func testOpensAfterConsecutiveFailuresOnly() {
        var b = breaker()
        b.failed(now: 0)
        b.failed(now: 1)
        b.succeeded()
        b.failed(now: 2)
        b.failed(now: 3)
        XCTAssertEqual(b.state, .closed(failures: 2), "a success in between starts the count again")
        XCTAssertTrue(b.permit(now: 4))
        b.failed(now: 4)
        XCTAssertEqual(b.state, .open(until: 104, interval: 100))
        XCTAssertEqual(b.stateName, "open")
        XCTAssertFalse(b.permit(now: 103))
    }

    func testOneProbeWhenTheIntervalHasPassedAndItsSuccessCloses() {
        var b = breaker()
        for t in 0..<3 { b.failed(now: UInt64(t)) }
        XCTAssertTrue(b.permit(now: 102), "the probe")
        XCTAssertEqual(b.stateName, "half_open")
        XCTAssertFalse(b.permit(now: 102), "one probe at a time")
        b.succeeded()
        XCTAssertEqual(b.state, .closed(failures: 0))
        XCTAssertTrue(b.permit(now: 103))
    }

    func testAFailedProbeDoublesTheIntervalUpToTheMaximum() {
        var b = breaker()
        for t in 0..<3 { b.failed(now: UInt64(t)) }
        XCTAssertTrue(b.permit(now: 102))
        b.failed(now: 102)
        XCTAssertEqual(b.state, .open(until: 302, interval: 200))
        XCTAssertTrue(b.permit(now: 302))
        b.failed(now: 302)
        XCTAssertEqual(b.state, .open(until: 652, interval: 350), "capped")
    }

    func testAProbeThatNeverReportsIsReplacedAfterTheInterval() {
        var b = breaker()
        for t in 0..<3 { b.failed(now: UInt64(t)) }
        XCTAssertTrue(b.permit(now: 102), "the probe, then lost")
        XCTAssertFalse(b.permit(now: 201))
        XCTAssertTrue(b.permit(now: 202), "another probe once the interval has passed")
        XCTAssertEqual(b.state, .halfOpen(interval: 100, since: 202))
        b.failed(now: 210)
        XCTAssertEqual(b.state, .open(until: 410, interval: 200))
    }

    func testLateFailuresOfCallsPermittedBeforeItOpenedChangeNothing() {
        var b = breaker()
        for t in 0..<3 { b.failed(now: UInt64(t)) }
        b.failed(now: 50)
        XCTAssertEqual(b.state, .open(until: 102, interval: 100))
    }
}
