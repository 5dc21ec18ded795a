/// Stops asking a bucket that keeps failing, and tries it again with backoff.
/// A pure state machine: events in (a permit asked for, a call's result),
/// decisions out; its owner keeps it under a lock and does the calls outside.
///
/// Closed, it permits every call and counts consecutive failures; at
/// `failureThreshold` it opens for `openInterval`. Open, it permits nothing
/// until the interval has passed; then it is half-open and permits one probe.
/// The probe's success closes it; its failure opens it again for twice the
/// interval, at most `maximumOpenInterval`. A probe that never reports (an
/// upload dropped before it ran) is replaced by another after the interval.
public struct CircuitBreaker: Sendable, Equatable {
    /// Where the breaker stands; times are monotonic nanoseconds.
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: UInt64, interval: UInt64)
        /// A probe went out at `since`; `interval` is what the next failure doubles.
        case halfOpen(interval: UInt64, since: UInt64)
    }

    public private(set) var state: State = .closed(failures: 0)
    public let failureThreshold: Int
    public let openInterval: UInt64
    public let maximumOpenInterval: UInt64

    /// - Parameters: intervals in nanoseconds.
    public init(failureThreshold: Int, openInterval: UInt64, maximumOpenInterval: UInt64) {
        self.failureThreshold = max(1, failureThreshold)
        self.openInterval = openInterval
        self.maximumOpenInterval = max(openInterval, maximumOpenInterval)
    }

    /// Whether a call may go out at `now`. An open breaker whose interval has
    /// passed lets this one call through as the probe.
    public mutating func permit(now: UInt64) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen(let interval, let since):
            guard now >= since + interval else { return false }
            state = .halfOpen(interval: interval, since: now)
            return true
        case .open(let until, let interval):
            guard now >= until else { return false }
            state = .halfOpen(interval: interval, since: now)
            return true
        }
    }

    /// A permitted call succeeded (the bucket answered, whatever it said).
    public mutating func succeeded() {
        state = .closed(failures: 0)
    }

    /// A permitted call failed at `now` (no answer in time, or a server error).
    public mutating func failed(now: UInt64) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now + openInterval, interval: openInterval)
                                                     : .closed(failures: failures + 1)
        case .halfOpen(let interval, _):
            let next = min(interval * 2, maximumOpenInterval)
            state = .open(until: now + next, interval: next)
        case .open:
            break  // a call permitted before it opened: already counted
        }
    }

    /// `closed`, `open` or `half_open`, as the statistics report it.
    public var stateName: String {
        switch state {
        case .closed: return "closed"
        case .open: return "open"
        case .halfOpen: return "half_open"
        }
    }
}
