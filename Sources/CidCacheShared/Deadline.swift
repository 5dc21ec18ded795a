import NIOCore
import Synchronization

/// Waiting on work with a deadline that holds even when the work is slow to
/// notice its cancellation (a connection pool, a held answer's body).
enum Deadline {
    /// `work`'s result, or nil when `deadline` (or the caller's cancellation)
    /// came first: the work is then cancelled and ends on its own, unwaited.
    static func race<T: Sendable>(_ deadline: NIODeadline, on loop: any EventLoop,
                                  _ work: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
        let task = Task { try await work() }
        let waiter = Waiter<T>()
        let finish = { @Sendable (outcome: Result<T, any Error>?) in
            if case .none = outcome { task.cancel() }
            waiter.resume(outcome)
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiter.set(continuation)
                let timer = loop.scheduleTask(deadline: deadline) { finish(nil) }
                Task {
                    let outcome = await task.result
                    timer.cancel()
                    finish(outcome)
                }
                if Task.isCancelled { finish(nil) }
            }
        } onCancel: {
            finish(nil)
        }
    }

    /// The one continuation a race resumes, whichever side comes first.
    private final class Waiter<T: Sendable>: Sendable {
        private let continuation = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)

        func set(_ continuation: CheckedContinuation<Result<T, any Error>?, Never>) {
            self.continuation.withLock { $0 = continuation }
        }

        func resume(_ outcome: Result<T, any Error>?) {
            continuation.withLock { waiting in defer { waiting = nil }; return waiting }?.resume(returning: outcome)
        }
    }
}
