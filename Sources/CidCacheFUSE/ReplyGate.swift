import Glibc
import Synchronization

/// The requests answered after their callback returned (reads waiting for an
/// upstream, replies queued behind kernel notifications), and the one door
/// every such reply goes through, so that none reaches a session being
/// destroyed. `close` answers every request still parked with an errno, while
/// the session lives; afterwards replies are no-ops. Each parked request is
/// thus answered exactly once, which is also what frees libfuse's copy of it.
/// Generic over the request so the rules can be tested without a kernel.
final class ReplyGate<Token: Sendable>: Sendable {
    /// A parked request, known by a serial number that is never reused: it
    /// tells the request apart from a later one that libfuse happens to
    /// allocate at the same address. Its token stays in the gate until answered.
    struct Parked: Hashable, Sendable {
        let serial: UInt64
    }

    private struct State {
        var open = true
        var nextSerial: UInt64 = 0
        var parked: [UInt64: Token] = [:]
        /// Replies taken from `parked` and being sent right now.
        var replying = 0
    }
    private let state = Mutex(State())

    init() {}

    /// Parks a request whose reply comes later; nil once the gate is closed
    /// (the caller, still in its callback, answers it at once).
    func park(_ token: Token) -> Parked? {
        park { _ in token }
    }

    /// Parks the request `register` returns, given the serial it is parked
    /// under; nil (and `register` never runs) once the gate is closed.
    /// `register` runs before anyone can answer the request, under the gate's
    /// lock: it may tell others of the request and hand it to libfuse, but must
    /// neither reply nor use the gate. Replies go to the token it returns.
    func park(registering register: (Parked) -> Token) -> Parked? {
        state.withLock { state in
            guard state.open else { return nil }
            state.nextSerial += 1
            let parked = Parked(serial: state.nextSerial)
            state.parked[parked.serial] = register(parked)
            return parked
        }
    }

    /// Whether the request still awaits its reply.
    func isPending(_ parked: Parked) -> Bool {
        state.withLock { $0.parked[parked.serial] != nil }
    }

    /// Answers a parked request through `body`, unless it was answered already
    /// or the gate closed; true when `body` ran.
    @discardableResult
    func reply(_ parked: Parked, _ body: (Token) -> Void) -> Bool {
        guard let token = take(parked) else { return false }
        body(token)
        state.withLock { $0.replying -= 1 }
        return true
    }

    private func take(_ parked: Parked) -> Token? {
        state.withLock { state in
            guard state.open, let token = state.parked.removeValue(forKey: parked.serial) else { return nil }
            state.replying += 1
            return token
        }
    }

    /// How many requests wait for their reply.
    var parkedCount: Int { state.withLock { $0.parked.count } }

    /// Closes the gate: waits for the replies being sent, then answers every
    /// parked request through `fail`, in the order they were parked. Call it
    /// while the session still lives. Returns how many requests it failed.
    @discardableResult
    func close(failing fail: (Token) -> Void) -> Int {
        let tokens: [Token] = state.withLock { state in
            guard state.open else { return [] }
            state.open = false
            defer { state.parked = [:] }
            return state.parked.sorted { $0.key < $1.key }.map(\.value)
        }
        // A reply is one write to /dev/fuse: the wait is brief.
        while state.withLock({ $0.replying > 0 }) { usleep(100) }
        tokens.forEach(fail)
        return tokens.count
    }
}
