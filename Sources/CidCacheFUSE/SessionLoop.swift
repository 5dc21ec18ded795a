import CFuse
import Foundation
import Glibc
import Synchronization

/// libfuse's multi-threaded loop on a thread of its own, and the way to end it.
///
/// In libfuse 3.14 the loop's thread sleeps on a semaphore that only a worker
/// posts, when its read of /dev/fuse returns after `fuse_session_exit`. Workers
/// stay parked on that read while any file of the mount is open (the kernel
/// connection lives on after a lazy unmount), and libfuse relies on a signal
/// to interrupt the semaphore, which this process handles elsewhere. So `wake`
/// signals the loop's thread until the loop ends: it then cancels the parked
/// workers and joins every worker, so no callback runs once `wait` returns true.
final class SessionLoop: Sendable {
    private struct State {
        var thread: pthread_t?
        var finished = false
        var waking = false
        var abandoned = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    /// A real-time signal nothing else here uses, sent to the loop's thread
    /// only. Its handler does nothing: running it ends the wait with EINTR
    /// (no SA_RESTART, which the kernel would honour by resuming the wait).
    private static let wakeSignal = __libc_current_sigrtmax() - 3
    private static let installHandler: Void = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(wakeSignal, &action, nil)
    }()

    /// Starts the loop on `session` (mounted, not yet served).
    init(session: OpaquePointer) {
        _ = Self.installHandler
        let session = UncheckedSession(pointer: session)
        let thread = Thread { [self] in
            state.withLock { $0.thread = pthread_self() }
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, Self.wakeSignal)
            pthread_sigmask(SIG_UNBLOCK, &signals, nil)
            let config = fuse_loop_cfg_create()
            fuse_loop_cfg_set_clone_fd(config, 0)
            fuse_loop_cfg_set_idle_threads(config, 8)
            fuse_loop_cfg_set_max_threads(config, 64)
            _ = cidcache_fuse_loop_mt(session.pointer, config)
            fuse_loop_cfg_destroy(config)
            let waiter = state.withLock { state in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        thread.name = "fuse-loop"
        thread.start()
    }

    /// Waits for the loop to end: true once it has (every worker joined),
    /// false when the task was cancelled first (the loop may still run).
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    guard !state.finished, !state.abandoned else { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            return state.withLock { $0.finished }
        } onCancel: {
            let waiter = state.withLock { state in
                state.abandoned = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Signals the loop's thread every 20 ms until the loop ends. Call after
    /// `fuse_session_exit`. The signal is sent under the lock the thread takes
    /// to finish, so it never reaches a thread that is gone.
    func wake() {
        let started = state.withLock { state in
            defer { state.waking = true }
            return state.waking
        }
        guard !started else { return }
        DispatchQueue.global().async {
            while self.state.withLock({ state in
                guard !state.finished else { return false }
                if let thread = state.thread { pthread_kill(thread, Self.wakeSignal) }
                return true
            }) {
                usleep(20_000)
            }
        }
    }
}

private struct UncheckedSession: @unchecked Sendable {  // a C pointer handed to the loop's one thread, which alone uses it
    /// Read by the loop's thread only, while the session lives.
    let pointer: OpaquePointer
}
