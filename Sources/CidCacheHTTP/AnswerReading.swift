import CidCacheEngine
import Synchronization

/// Waits for the callback `register` hands on, or gives up with
/// `CancellationError` as soon as the waiting task is cancelled (a call of the
/// callback after that is ignored). A request's handler is cancelled when the
/// server stops past its graceful period; the work it waited for goes on (an
/// upstream call still fills the cache), as when a query file's reader leaves.
func unlessCancelled<Value: Sendable>(
    _ register: (_ done: @escaping @Sendable (Result<Value, any Error>) -> Void) -> Void
) async throws -> Value {
    let waiter = Mutex<CheckedContinuation<Value, any Error>?>(nil)
    let done: @Sendable (Result<Value, any Error>) -> Void = { result in
        waiter.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }?.resume(with: result)
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            waiter.withLock { $0 = continuation }
            // Cancelled before the continuation was there: the handler found nothing to resume.
            if Task.isCancelled { return done(.failure(CancellationError())) }
            register(done)
        }
    } onCancel: {
        done(.failure(CancellationError()))
    }
}

/// Runs `work` in a task of its own and waits for it unless cancelled.
func unlessCancelled<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await unlessCancelled { done in
        Task {
            do { done(.success(try await work())) } catch { done(.failure(error)) }
        }
    }
}

extension ResponseBody {
    /// Hands every piece of the body to `write` in order, as it arrives;
    /// throws the failure that cut it short, after the bytes before it, or
    /// `CancellationError` when the task is cancelled while it waits.
    func forEachPiece(_ write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        var offset = 0
        while true {
            let chunk: Chunk = try await unlessCancelled { done in
                read(at: offset, limit: 1 << 16) { done(.success($0)) }
            }
            switch chunk {
            case .bytes(let piece):
                try await write(piece)
                offset += piece.count
            case .end: return
            case .failed(let error): throw error
            }
        }
    }

    /// The whole body once it has ended, unless the task is cancelled first.
    func collectUnlessCancelled() async throws -> [UInt8] {
        try await unlessCancelled { done in
            whenComplete { result in done(result.mapError { $0 }) }
        }
    }
}
