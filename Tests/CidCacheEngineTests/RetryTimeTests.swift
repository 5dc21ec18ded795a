@testable import CidCacheEngine
import NIOCore
import XCTest

/// Retries are timed on the monotonic clock, from `NIODeadline`s alone.
final class RetryTimeTests: XCTestCase {
    private let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    private func config(retries: Int = 2, backoffMilliseconds: Int = 500) -> CacheConfig {
        var config = CacheConfig()
        config.upstreamRetries = retries
        config.retryBackoffMilliseconds = backoffMilliseconds
        return config
    }

    func testTheBackoffDoublesFromTheMonotonicNow() {
        let deadline = now + .seconds(300)
        let first = UpstreamCaller.retryTime(after: 0, retryAfter: nil, now: now, deadline: deadline, config: config(), jitter: 1)
        let second = UpstreamCaller.retryTime(after: 1, retryAfter: nil, now: now, deadline: deadline, config: config(), jitter: 1)
        XCTAssertEqual(first, now + .milliseconds(500))
        XCTAssertEqual(second, now + .milliseconds(1000))
    }

    func testRetryAfterIsTakenAndCappedAtAMinute() {
        let deadline = now + .seconds(300)
        XCTAssertEqual(UpstreamCaller.retryTime(after: 0, retryAfter: 2, now: now, deadline: deadline, config: config(), jitter: 1),
                       now + .seconds(2))
        XCTAssertEqual(UpstreamCaller.retryTime(after: 0, retryAfter: 3600, now: now, deadline: deadline, config: config(), jitter: 1),
                       now + .seconds(60))
    }

    func testNoRetryPastTheDeadlineOrTheRetries() {
        XCTAssertNil(UpstreamCaller.retryTime(after: 0, retryAfter: 10, now: now, deadline: now + .seconds(10), config: config(), jitter: 1),
                     "a retry at the deadline would not finish before it")
        XCTAssertNil(UpstreamCaller.retryTime(after: 2, retryAfter: nil, now: now, deadline: now + .seconds(300), config: config(), jitter: 1),
                     "upstream_retries spent")
    }
}
