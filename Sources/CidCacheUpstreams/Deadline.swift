public import NIOCore
import NIOPosix
import Synchronization

/// Deadlines and timers, all on one monotonic clock: `NIODeadline`
/// (CLOCK_MONOTONIC), the clock AsyncHTTPClient's deadlines and NIO's timers
/// take as they are. Wall-clock time is for dates (an entry's created and
/// expires), never for how long something may wait.
public enum Deadline {
    /// The instant `seconds` from now; a span too long to count in nanoseconds is never reached.
    public static func after(seconds: Double) -> NIODeadline {
        seconds < 9e9 ? .now() + .nanoseconds(Int64(max(0, seconds) * 1e9)) : .distantFuture
    }

    /// `work`'s result, or nil when `deadline` (or the caller's cancellation)
    /// came first: the work is then cancelled and ends on its own, unwaited.
    /// The deadline holds even when the work is slow to notice its
    /// cancellation (a connection pool, a held answer's body): the work runs
    /// in a task of its own, the one task a race costs, and an event-loop
    /// timer wakes the caller (a cancelled `Task.sleep` would keep about
    /// 1 KiB until its deadline, hundreds of megabytes at a thousand calls a
    /// second and a 300 s timeout).
    public static func race<T: Sendable>(_ deadline: NIODeadline, on loop: any EventLoop,
                                         _ work: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
        let first = FirstOf<Result<T, any Error>?>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard first.wait(continuation) else { return }
                let task = Task {
                    do { first.settle(.success(try await work())) } catch { first.settle(.failure(error)) }
                }
                let timer = loop.scheduleTask(deadline: deadline) { first.settle(nil) }
                first.whenSettled {
                    timer.cancel()
                    task.cancel()
                }
            }
        } onCancel: {
            first.settle(nil)
        }
    }

    /// Returns at `deadline`, or throws `CancellationError` as soon as the
    /// task is cancelled; an event-loop timer, so a cancelled sleep holds nothing.
    public static func sleep(until deadline: NIODeadline) async throws {
        let first = FirstOf<Bool>()
        let woken = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard first.wait(continuation) else { return }
                let timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(deadline: deadline) { first.settle(true) }
                first.whenSettled { timer.cancel() }
            }
        } onCancel: {
            first.settle(false)
        }
        if !woken { throw CancellationError() }
    }

    /// Calls `action` at `deadline` on an event loop, unless the returned
    /// `Scheduled` is cancelled first: a timer that costs no task.
    @discardableResult
    public static func at(_ deadline: NIODeadline, _ action: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        MultiThreadedEventLoopGroup.singleton.next().scheduleTask(deadline: deadline, action)
    }

    /// One continuation resumed once, by whichever side settles first; what
    /// the others left behind (a timer, a task) is cleaned up then.
    private final class FirstOf<Value: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Value, Never>?
            /// Set by the first `settle`.
            var outcome: Value?
            var cleanups: [@Sendable () -> Void] = []
        }
        private let state = Mutex(State())

        /// Hands over the continuation; false when the race was settled
        /// already (it is then resumed at once, and nothing should start).
        func wait(_ continuation: CheckedContinuation<Value, Never>) -> Bool {
            let outcome = state.withLock { state -> Value? in
                if case .none = state.outcome { state.continuation = continuation }
                return state.outcome
            }
            guard let outcome else { return true }
            continuation.resume(returning: outcome)
            return false
        }

        /// The first call decides; later ones do nothing.
        func settle(_ value: Value) {
            let first = state.withLock { state -> (waiting: CheckedContinuation<Value, Never>?, cleanups: [@Sendable () -> Void])? in
                guard case .none = state.outcome else { return nil }
                state.outcome = value
                defer { (state.continuation, state.cleanups) = (nil, []) }
                return (state.continuation, state.cleanups)
            }
            guard let first else { return }
            first.cleanups.forEach { $0() }
            first.waiting?.resume(returning: value)
        }

        /// Runs `cleanup` once settled: now, if it is already.
        func whenSettled(_ cleanup: @escaping @Sendable () -> Void) {
            let now = state.withLock { state -> Bool in
                guard case .none = state.outcome else { return true }
                state.cleanups.append(cleanup)
                return false
            }
            if now { cleanup() }
        }
    }
}
