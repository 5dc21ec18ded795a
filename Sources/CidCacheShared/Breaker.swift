import NIOCore
import Synchronization

/// A `CircuitBreaker` under a lock, on the monotonic clock. The shared tier
/// keeps one per direction, so failing uploads never stop lookups.
final class Breaker: Sendable {
    private let machine: Mutex<CircuitBreaker>

    init(_ breaker: CircuitBreaker) {
        machine = Mutex(breaker)
    }

    /// Whether a call may go out now (see `CircuitBreaker.permit`).
    func permit() -> Bool {
        machine.withLock { $0.permit(now: Self.now) }
    }

    /// A permitted call's result.
    func record(failed: Bool) {
        machine.withLock { failed ? $0.failed(now: Self.now) : $0.succeeded() }
    }

    /// `closed`, `open` or `half_open`.
    var stateName: String {
        machine.withLock { $0.stateName }
    }

    private static var now: UInt64 { NIODeadline.now().uptimeNanoseconds }
}
