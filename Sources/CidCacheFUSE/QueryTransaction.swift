import CFuse
import CidCacheCore
import CidCacheEngine
import Dispatch
import Glibc
import Synchronization

/// One open of a query file: the request is written, the first read ends it,
/// later reads stream the answer like a pipe (docs/REFERENCE.md §4). Reads that wait
/// for the upstream are answered from a task and can be interrupted.
final class QueryTransaction: @unchecked Sendable {
    let namespace: String
    let op: String
    private let engine: CacheEngine
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

    init(namespace: String, op: String, engine: CacheEngine) {
        self.namespace = namespace
        self.op = op
        self.engine = engine
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
        let pending = PendingRead(request: request, size: size)
        // Registered before anyone else can reply to the request (libfuse may call it at once).
        fuse_req_interrupt_func(request.raw, { _, data in
            guard let data else { return }
            Unmanaged<PendingRead>.fromOpaque(data).takeUnretainedValue().interrupt()
        }, Unmanaged.passUnretained(pending).toOpaque())

        let requestBody: [UInt8]? = state.withLock { state in
            state.parked.append(pending)
            switch state.phase {
            case .writing(let body):
                state.phase = .waiting
                state.waiters.append(pending)
                return body
            case .tooLarge:
                if pending.claim() { request.error(EFBIG) }
            case .waiting, .answered, .failed:
                state.waiters.append(pending)
            }
            return nil
        }
        if let requestBody {
            // Keying, refusals and hits are settled on this thread; only the upstream goes to a task.
            switch engine.start(namespace: namespace, op: op, body: requestBody, pid: request.pid) {
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
            state.waiters.removeAll { $0.isClaimed }
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
            if pending.claim() { pending.request.error(error.errno) }
            serveNext()
        case .body(let body, let offset):
            body.read(at: offset, limit: pending.size) { chunk in
                let claimed = pending.claim()
                self.state.withLock { state in
                    if claimed, case .bytes(let slice) = chunk { state.cursor = offset + slice.count }
                    state.serving = false
                }
                if claimed {
                    switch chunk {
                    case .bytes(let slice): slice.withUnsafeBytes { pending.request.bytes($0) }
                    case .end: pending.request.bytes([])
                    case .failed(let error): pending.request.error(error.errno)
                    }
                }
                self.serveNext()
            }
        }
    }
}

/// A read parked until the answer arrives; exactly one reply reaches the kernel,
/// either the answer or EINTR when the reader is interrupted.
final class PendingRead: @unchecked Sendable {
    let request: Request
    let size: Int
    private let claimed = Atomic<Bool>(false)

    init(request: Request, size: Int) {
        self.request = request
        self.size = size
    }

    /// Whether someone has replied (or is replying) to this read.
    var isClaimed: Bool { claimed.load(ordering: .acquiring) }

    /// Takes the right to reply; true for exactly one caller.
    func claim() -> Bool {
        claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Called by libfuse, possibly while it holds the request's lock: reply from elsewhere.
    func interrupt() {
        guard claim() else { return }
        let request = self.request
        DispatchQueue.global().async { request.error(EINTR) }
    }
}
