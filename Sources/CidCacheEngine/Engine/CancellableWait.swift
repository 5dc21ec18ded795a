import Synchronization

/// Waits for the value `register`'s callback hands on, or throws
/// `CancellationError` as soon as the waiting task is cancelled; the
/// registration is then dropped with `unregister`, so a cancelled wait holds
/// nothing. `register` returns a token for `unregister`, or nil when it
/// called back already (or holds nothing to drop). The one bridge from the
/// engine's callbacks (a body's bytes, a flight's answer) to a waiting task.
func waitUnlessCancelled<Value: Sendable, Token: Sendable>(
    register: (_ done: @escaping @Sendable (Value) -> Void) -> Token?,
    unregister: @escaping @Sendable (Token) -> Void
) async throws -> Value {
    let wait = Mutex<(continuation: CheckedContinuation<Value, any Error>?, token: Token?, cancelled: Bool)>((nil, nil, false))
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            let cancelled = wait.withLock { state in
                if !state.cancelled { state.continuation = continuation }
                return state.cancelled
            }
            if cancelled { return continuation.resume(throwing: CancellationError()) }
            let token = register { value in
                wait.withLock { state in defer { state.continuation = nil }; return state.continuation }?.resume(returning: value)
            }
            guard let token else { return }
            // Cancelled between the registration and now: the handler found no token to drop.
            let dropNow = wait.withLock { state -> Bool in
                if !state.cancelled { state.token = token }
                return state.cancelled
            }
            if dropNow { unregister(token) }
        }
    } onCancel: {
        let (continuation, token) = wait.withLock { state in
            state.cancelled = true
            defer { (state.continuation, state.token) = (nil, nil) }
            return (state.continuation, state.token)
        }
        if let token { unregister(token) }
        continuation?.resume(throwing: CancellationError())
    }
}
