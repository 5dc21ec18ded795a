import CFuse
import CidCacheCore
import CidCacheEngine
import Dispatch
import Glibc
import Synchronization

/// One open of a query file: the request is written, the first read ends it,
/// later reads stream the answer like a pipe (SPEC section 3). Reads that wait
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
        case answered(Result<[UInt8], CacheError>)
    }

    private struct State {
        var phase: Phase = .writing([])
        var cursor = 0
        var waiters: [PendingRead] = []
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
        let outcome: Int32? = state.withLock { state in
            switch state.phase {
            case .writing(var buffer):
                if buffer.count + bytes.count > limit {
                    state.phase = .tooLarge
                    return EFBIG
                }
                state.phase = .writing([])  // drop the reference so the append doesn't copy
                buffer.append(contentsOf: bytes)
                state.phase = .writing(buffer)
                return nil
            case .tooLarge: return EFBIG
            case .waiting, .answered: return EINVAL
            }
        }
        switch outcome {
        case nil: request.written(bytes.count)
        case EFBIG?:
            engine.recordError(namespace: namespace, op: op, requestCID: nil,
                               error: CacheError(.tooLarge, "request larger than \(limit) bytes"), pid: request.pid)
            request.error(EFBIG)
        case let errno?:
            engine.recordError(namespace: namespace, op: op, requestCID: nil,
                               error: CacheError(.invalidRequest, "write after the request was sent (one transaction per open)"),
                               pid: request.pid)
            request.error(errno)
        }
    }

    func read(_ request: Request, size: Int) {
        let pending = PendingRead(request: request, size: size)
        // Registered before anyone else can reply to the request (libfuse may call it at once).
        fuse_req_interrupt_func(request.raw, { _, data in
            guard let data else { return }
            Unmanaged<PendingRead>.fromOpaque(data).takeUnretainedValue().interrupt()
        }, Unmanaged.passUnretained(pending).toOpaque())

        let pid = request.pid
        let start: [UInt8]? = state.withLock { state in
            state.parked.append(pending)
            switch state.phase {
            case .writing(let body):
                state.phase = .waiting
                state.waiters.append(pending)
                return body
            case .tooLarge:
                if pending.claim() { request.error(EFBIG) }
            case .waiting:
                state.waiters.append(pending)
            case .answered(let result):
                serve(pending, result, &state)
            }
            return nil
        }
        guard let body = start else { return }
        let engine = self.engine, namespace = self.namespace, op = self.op
        // Not tied to the reader: an interrupted or departed reader still fills the cache.
        Task.detached {
            let result: Result<[UInt8], CacheError>
            do {
                result = .success(try await engine.query(namespace: namespace, op: op, body: body, pid: pid).body)
            } catch let error as CacheError {
                result = .failure(error)
            } catch {
                result = .failure(CacheError(.io, "\(error)"))
            }
            self.finish(result)
        }
    }

    private func finish(_ result: Result<[UInt8], CacheError>) {
        state.withLock { state in
            state.phase = .answered(result)
            let waiters = state.waiters
            state.waiters = []
            for pending in waiters { serve(pending, result, &state) }
        }
    }

    /// Replies to one read from the answer, advancing the cursor only for a read that is answered.
    private func serve(_ pending: PendingRead, _ result: Result<[UInt8], CacheError>, _ state: inout State) {
        guard pending.claim() else { return }
        switch result {
        case .failure(let error):
            pending.request.error(error.errno)
        case .success(let body):
            let start = min(state.cursor, body.count)
            let end = min(start + pending.size, body.count)
            state.cursor = end
            body.withUnsafeBytes { pending.request.bytes(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
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
