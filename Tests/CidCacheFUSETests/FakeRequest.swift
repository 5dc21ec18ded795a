@testable import CidCacheFUSE
import Glibc
import Synchronization

/// A stand-in for a kernel request: records its one reply, holds the
/// interrupt handler as libfuse would, and checks at each reply that no
/// transaction's lock is held.
struct FakeRequest: Replying {
    let id: Int
    let kernel: FakeKernel

    var pid: Int32 { 4242 }

    func error(_ errno: Int32) { kernel.reply(id, .error(errno)) }
    func bytes(_ bytes: UnsafeRawBufferPointer) { kernel.reply(id, .bytes(Array(bytes))) }
    func written(_ count: Int) { kernel.reply(id, .written(count)) }

    func interruptible(_ handler: @escaping @Sendable () -> Void) -> FakeRequest {
        kernel.register(id, handler)
        return self
    }
}

/// What the fake requests were answered, and their interrupt handlers.
final class FakeKernel: Sendable {
    enum Reply: Equatable {
        case bytes([UInt8])
        case error(Int32)
        case written(Int)
    }

    private struct State {
        var next = 0
        var replies: [Int: [Reply]] = [:]
        var handlers: [Int: @Sendable () -> Void] = [:]
        /// Requests whose caller was interrupted before a handler was set.
        var interruptedEarly: Set<Int> = []
        var lockChecks: [@Sendable () -> Bool] = []
        var repliesUnderALock = 0
    }
    private let state = Mutex(State())

    /// A new request.
    func request() -> FakeRequest {
        state.withLock { state in
            state.next += 1
            return FakeRequest(id: state.next, kernel: self)
        }
    }

    /// Checks `isUnlocked` at every reply (a transaction's lock must be free then).
    func watch(_ isUnlocked: @escaping @Sendable () -> Bool) {
        state.withLock { $0.lockChecks.append(isUnlocked) }
    }

    fileprivate func register(_ id: Int, _ handler: @escaping @Sendable () -> Void) {
        let early = state.withLock { state in
            state.handlers[id] = handler
            return state.interruptedEarly.contains(id)
        }
        // As libfuse does when the interrupt came first.
        if early { handler() }
    }

    fileprivate func reply(_ id: Int, _ reply: Reply) {
        let checks = state.withLock { $0.lockChecks }
        // A lock held by this very thread stays held while it waits here;
        // another thread's hold is brief, so look a few times.
        var locked = true
        for _ in 0..<50 where locked {
            locked = !checks.allSatisfy { $0() }
            if locked { usleep(1_000) }
        }
        state.withLock { state in
            // The reply unregisters the handler, as `Request` does.
            state.handlers[id] = nil
            state.replies[id, default: []].append(reply)
            if locked { state.repliesUnderALock += 1 }
        }
    }

    /// Interrupts the caller of request `id`, as the kernel's INTERRUPT does.
    func interrupt(_ id: Int) {
        let handler = state.withLock { state in
            if state.handlers[id] == nil { state.interruptedEarly.insert(id) }
            return state.handlers[id]
        }
        handler?()
    }

    func replies(_ id: Int) -> [Reply] { state.withLock { $0.replies[id] ?? [] } }
    /// Interrupt handlers still set: each is dropped by its request's reply.
    var handlersLeft: Int { state.withLock { $0.handlers.count } }
    var repliesUnderALock: Int { state.withLock { $0.repliesUnderALock } }

    /// Waits (up to `seconds`) until request `id` has a reply; its replies.
    func awaitReply(_ id: Int, seconds: Double = 10) -> [Reply] {
        var waited = 0.0
        while replies(id).isEmpty && waited < seconds {
            usleep(5_000)
            waited += 0.005
        }
        return replies(id)
    }
}
