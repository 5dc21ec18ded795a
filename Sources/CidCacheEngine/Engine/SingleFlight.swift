import Synchronization

/// One run of work per key at a time: whoever asks for a key while its run is
/// joinable shares that run's value (or failure) instead of starting another.
/// A run says itself when it stops being joinable (`land`), which may be long
/// after its value is out: a fetch stays joinable until its answer is stored.
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// One run: its outcome once there, and the callers waiting for it.
    fileprivate final class Flight: Sendable {
        let id: UInt64
        private let state = Mutex<(outcome: Result<Value, any Error>?, waiting: [UInt64: @Sendable (Result<Value, any Error>) -> Void],
                                   next: UInt64)>((nil, [:], 0))

        init(id: UInt64) { self.id = id }

        func settle(_ outcome: Result<Value, any Error>) {
            let waiting = state.withLock { state in
                state.outcome = outcome
                defer { state.waiting = [:] }
                return state.waiting.values
            }
            waiting.forEach { $0(outcome) }
        }

        /// The run's value, unless the waiting task is cancelled first (the run goes on).
        var value: Value {
            get async throws {
                try await waitUnlessCancelled(register: { done in
                    let waiter = state.withLock { state -> Result<UInt64, Never>? in
                        if state.outcome != nil { return nil }
                        state.next += 1
                        state.waiting[state.next] = done
                        return .success(state.next)
                    }
                    guard case .success(let id)? = waiter else {
                        done(state.withLock { $0.outcome! })
                        return nil
                    }
                    return id
                }, unregister: { id in
                    _ = self.state.withLock { $0.waiting.removeValue(forKey: id) }
                }).get()
            }
        }
    }
    private let flights = Mutex<(next: UInt64, byKey: [Key: Flight])>((0, [:]))

    /// A run begun or joined by `start`.
    struct Started: Sendable {
        fileprivate let flight: Flight
        /// Whether the run was already joinable.
        let joined: Bool

        /// The run's value.
        /// - Throws: the run's failure, or `CancellationError` as soon as the caller is cancelled.
        func value() async throws -> Value { try await flight.value }
    }

    /// The value of the key's joinable run, or of a new run of `work` (`start`).
    /// - Returns: the value, and whether it came from a run already joinable.
    /// - Throws: the run's failure, or `CancellationError` as soon as the caller is cancelled.
    func run(_ key: Key, _ work: @escaping @Sendable (_ land: @escaping @Sendable () -> Void) async throws -> Value)
        async throws -> (value: Value, joined: Bool) {
        let started = start(key, work)
        return (try await started.value(), started.joined)
    }

    /// Joins the key's joinable run, or begins a new run of `work`, without
    /// waiting: the key is taken when this returns. `work` must call `land`
    /// once (later calls do nothing; a run that never lands stays joinable for
    /// ever). The run has a task of its own, so it goes on (and fills the
    /// cache) when the callers waiting for it are cancelled.
    func start(_ key: Key, _ work: @escaping @Sendable (_ land: @escaping @Sendable () -> Void) async throws -> Value) -> Started {
        flights.withLock { state -> Started in
            if let existing = state.byKey[key] { return Started(flight: existing, joined: true) }
            let id = state.next
            state.next += 1
            let land: @Sendable () -> Void = { [self] in
                flights.withLock { state in
                    if state.byKey[key]?.id == id { state.byKey[key] = nil }
                }
            }
            let flight = Flight(id: id)
            Task {
                do { flight.settle(.success(try await work(land))) } catch { flight.settle(.failure(error)) }
            }
            state.byKey[key] = flight
            return Started(flight: flight, joined: false)
        }
    }

    /// Whether a run for the key is joinable.
    func isFlying(_ key: Key) -> Bool {
        flights.withLock { $0.byKey[key] != nil }
    }
}
