import CidCacheCore
import CidCacheEngine
import Dispatch
import Glibc
import Synchronization

/// One open of a query file: drives its `StateMachine` with the kernel's
/// writes, reads, interrupts and release and with the engine's answer, and
/// does what the machine says outside the lock. Reads are parked in the
/// mount's `ReplyGate`, so each gets exactly one reply (ENOTCONN when the mount
/// stops). A hit is answered on the kernel's thread, with no task; only the
/// upstream goes to a task, which is not the reader's: an interrupted or
/// departed reader still fills the cache.
final class QueryTransaction<R: Replying>: Sendable {
    let namespace: String
    let op: String
    private let engine: CacheEngine
    private let gate: ReplyGate<R>
    private let machine: Mutex<StateMachine>
    /// Told of the answer and the process that asked, once it starts.
    private let answered: @Sendable (Answer, Int32) -> Void

    init(namespace: String, op: String, engine: CacheEngine, gate: ReplyGate<R>,
         answered: @escaping @Sendable (_ answer: Answer, _ pid: Int32) -> Void = { _, _ in }) {
        self.namespace = namespace
        self.op = op
        self.engine = engine
        self.gate = gate
        self.answered = answered
        machine = Mutex(StateMachine(limit: engine.config.requestLimitBytes))
    }

    func write(_ request: R, bytes: UnsafeRawBufferPointer) {
        switch machine.withLock({ $0.write(bytes) }) {
        case .accept(let count):
            request.written(count)
        case .refuse(let error):
            engine.recordError(namespace: namespace, op: op, requestCID: nil, error: error, pid: request.pid)
            request.error(error.errno)
        }
    }

    func read(_ request: R, size: Int) {
        // Read before the request is parked: from then on it may be answered (and freed) at any time.
        let pid = request.pid
        var action = StateMachine.Action.none
        // The machine learns of the read before its interrupt handler is set,
        // so an interrupt it cannot place is one for a read already answered.
        let parked = gate.park { parked in
            action = machine.withLock { $0.read(parked, size: size) }
            return request.interruptible { [self] in interrupted(parked) }
        }
        // The mount is stopping: answer now rather than wait behind a closed gate.
        guard parked != nil else { return request.error(ENOTCONN) }
        if case .start(let body) = action { action = start(body, pid: pid) }
        run(action)
    }

    /// The kernel closed the file for good.
    func release() {
        run(machine.withLock { $0.released() })
    }

    /// The reads waiting for their reply (none once the transaction is over).
    var pendingReads: Int { machine.withLock { $0.pendingReads.count } }

    // MARK: Driving

    /// Keying, refusals and hits are settled on this thread; only the upstream goes to a task.
    private func start(_ body: [UInt8], pid: Int32) -> StateMachine.Action {
        switch engine.start(namespace: namespace, op: op, body: body, pid: pid) {
        case .answered(let answer):
            answered(answer, pid)
            return machine.withLock { $0.answered(answer.body) }
        case .failed(let error): return machine.withLock { $0.failed(error.errno) }
        case .needsUpstream(let pending): send(pending, pid: pid); return .none
        }
    }

    private func send(_ pending: CacheEngine.PendingQuery, pid: Int32) {
        let engine = self.engine
        Task.detached {
            let action: StateMachine.Action
            do throws(CacheError) {
                let answer = try await engine.finish(pending)
                self.answered(answer, pid)
                action = self.machine.withLock { $0.answered(answer.body) }
            } catch {
                action = self.machine.withLock { $0.failed(error.errno) }
            }
            self.run(action)
        }
    }

    /// Called by libfuse under the request's lock, possibly within `read`'s
    /// registration: decides at once, replies from elsewhere.
    private func interrupted(_ read: StateMachine.Read) {
        let action = machine.withLock { $0.interrupted(read) }
        if case .none = action { return }
        DispatchQueue.global().async { self.run(action) }
    }

    /// Does what the machine said; never under its lock.
    private func run(_ action: StateMachine.Action) {
        switch action {
        case .none, .park:
            break
        case .start:
            preconditionFailure("only the first read starts the request")
        case .serve(let serve):
            self.serve(serve)
        case .reply(let read, let reply, let next):
            gate.reply(read) { request in
                switch reply {
                case .bytes(let slice): slice.withUnsafeBytes { request.bytes($0) }
                case .end: request.bytes(UnsafeRawBufferPointer(start: nil, count: 0))
                case .error(let errno): request.error(errno)
                }
            }
            if let next { serve(next) }
        case .fail(let reads, let errno):
            for read in reads { gate.reply(read) { $0.error(errno) } }
        }
    }

    /// Reads the body for one read: at once when the bytes are there (a hit),
    /// else when they arrive. A chain of waiting reads served at once nests
    /// one call per read, and reads of one open are few.
    private func serve(_ serve: StateMachine.Serve) {
        let read = serve.read
        serve.body.read(at: serve.offset, limit: serve.size) { chunk in
            self.run(self.machine.withLock { $0.chunk(chunk, for: read) })
        }
    }

    /// For tests: whether the machine's lock is free, as it must be whenever a reply is sent.
    var isUnlocked: Bool { machine.withLockIfAvailable { _ in true } ?? false }
}
