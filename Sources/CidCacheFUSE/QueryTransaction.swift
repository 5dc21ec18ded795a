import CFuse
import CidCacheCore
import CidCacheEngine
import Dispatch
import Glibc
import Synchronization

/// One open of a query file: the request is written, the first read ends it,
/// later reads stream the answer like a pipe (docs/REFERENCE.md §4). Reads that wait
/// for the upstream are answered from a task and can be interrupted; their
/// replies go through the mount's `ReplyGate`.
final class QueryTransaction: Sendable {
    let namespace: String
    let op: String
    private let engine: CacheEngine
    private let gate: ReplyGate<Request>
    private let limit: Int

    private enum Phase {
        case writing([UInt8])
        /// A write went past the limit; the request is gone and every read fails.
        case tooLarge
        case waiting
        case answered(ResponseBody)
        case failed(CacheError)
    }

    private struct State {
        var phase: Phase = .writing([])
        /// How far the reader has read: offsets from the kernel are ignored, like a pipe.
        var cursor = 0
        /// Reads in arrival order; one at a time is served from the body.
        var waiters: [PendingRead] = []
        var serving = false
        /// Every read ever parked, kept alive while libfuse may still call its interrupt hook.
        var parked: [PendingRead] = []
    }
    private let state = Mutex(State())

    init(namespace: String, op: String, engine: CacheEngine, gate: ReplyGate<Request>) {
        self.namespace = namespace
        self.op = op
        self.engine = engine
        self.gate = gate
        limit = engine.config.requestLimitBytes
    }

    func write(_ request: Request, bytes: UnsafeRawBufferPointer) {
        let refusal: CacheError? = state.withLock { state in
            switch state.phase {
            case .writing(var buffer):
                if buffer.count + bytes.count > limit {
                    state.phase = .tooLarge
                    return CacheError(.tooLarge, "request larger than \(limit) bytes")
                }
                state.phase = .waiting  // drop the reference so the append doesn't copy
                buffer.append(contentsOf: bytes)
                state.phase = .writing(buffer)
                return nil
            case .tooLarge:
                return CacheError(.tooLarge, "request larger than \(limit) bytes")
            case .waiting, .answered, .failed:
                return CacheError(.invalidRequest, "write after the request was sent (one transaction per open)")
            }
        }
        guard let refusal else { return request.written(bytes.count) }
        engine.recordError(namespace: namespace, op: op, requestCID: nil, error: refusal, pid: request.pid)
        request.error(refusal.errno)
    }

    func read(_ request: Request, size: Int) {
        // Read before the request is parked: from then on an interrupt may answer (and free) it at any time.
        let pid = request.pid
        var registered: PendingRead?
        let parked = gate.park(request) { parked in
            let pending = PendingRead(parked, size: size, gate: gate)
            registered = pending
            // libfuse may call it at once, when the reader was interrupted already.
            fuse_req_interrupt_func(request.raw, { _, data in
                guard let data else { return }
                Unmanaged<PendingRead>.fromOpaque(data).takeUnretainedValue().interrupt()
            }, Unmanaged.passUnretained(pending).toOpaque())
        }
        // The mount is stopping: answer now rather than wait behind a closed gate.
        guard let parked, let pending = registered else { return request.error(ENOTCONN) }

        let requestBody: [UInt8]? = state.withLock { state in
            state.parked.append(pending)
            switch state.phase {
            case .writing(let body):
                state.phase = .waiting
                state.waiters.append(pending)
                return body
            case .tooLarge:
                gate.reply(parked) { $0.error(EFBIG) }
            case .waiting, .answered, .failed:
                state.waiters.append(pending)
            }
            return nil
        }
        if let requestBody {
            // Keying, refusals and hits are settled on this thread; only the upstream goes to a task.
            switch engine.start(namespace: namespace, op: op, body: requestBody, pid: pid) {
            case .answered(let answer): state.withLock { $0.phase = .answered(answer.body) }
            case .failed(let error): state.withLock { $0.phase = .failed(error) }
            case .needsUpstream(let pending): send(pending)
            }
        }
        serveNext()
    }

    /// Asks the upstream. The task is not the reader's: an interrupted or
    /// departed reader still fills the cache.
    private func send(_ pending: CacheEngine.PendingQuery) {
        let engine = self.engine
        Task.detached {
            let phase: Phase
            do {
                phase = .answered(try await engine.finish(pending).body)
            } catch let error as CacheError {
                phase = .failed(error)
            } catch {
                phase = .failed(CacheError(.io, "\(error)"))
            }
            self.state.withLock { $0.phase = phase }
            self.serveNext()
        }
    }

    /// Serves the oldest waiting read once the answer has begun, one read at a time.
    private func serveNext() {
        enum Source { case body(ResponseBody, offset: Int), failure(CacheError) }
        let next: (PendingRead, Source)? = state.withLock { state in
            guard !state.serving else { return nil }
            state.waiters.removeAll { !$0.isPending }
            guard let pending = state.waiters.first else { return nil }
            switch state.phase {
            case .answered(let body):
                state.serving = true
                state.waiters.removeFirst()
                return (pending, .body(body, offset: state.cursor))
            case .failed(let error):
                state.waiters.removeFirst()
                return (pending, .failure(error))
            default:
                return nil
            }
        }
        guard let (pending, source) = next else { return }
        switch source {
        case .failure(let error):
            gate.reply(pending.parked) { $0.error(error.errno) }
            serveNext()
        case .body(let body, let offset):
            body.read(at: offset, limit: pending.size) { chunk in
                self.gate.reply(pending.parked) { request in
                    if case .bytes(let slice) = chunk { self.state.withLock { $0.cursor = offset + slice.count } }
                    switch chunk {
                    case .bytes(let slice): slice.withUnsafeBytes { request.bytes($0) }
                    case .end: request.bytes([])
                    case .failed(let error): request.error(error.errno)
                    }
                }
                self.state.withLock { $0.serving = false }
                self.serveNext()
            }
        }
    }
}

/// A read parked until the answer arrives; exactly one reply reaches the kernel:
/// the answer, EINTR when the reader is interrupted, or ENOTCONN when the mount stops.
final class PendingRead: Sendable {
    let parked: ReplyGate<Request>.Parked
    let size: Int
    private let gate: ReplyGate<Request>

    init(_ parked: ReplyGate<Request>.Parked, size: Int, gate: ReplyGate<Request>) {
        self.parked = parked
        self.size = size
        self.gate = gate
    }

    /// Whether the read still awaits its reply.
    var isPending: Bool { gate.isPending(parked) }

    /// Called by libfuse, possibly while it holds the request's lock or from
    /// within `ReplyGate.park`: reply from elsewhere.
    func interrupt() {
        gate.replyLater(parked) { $0.error(EINTR) }
    }
}
