import Synchronization

/// One run of work per key at a time: whoever asks for a key while its run is
/// joinable shares that run's value (or failure) instead of starting another.
/// A run says itself when it stops being joinable (`land`), which may be long
/// after its value is out: a fetch stays joinable until its answer is stored.
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Flight {
        let id: UInt64
        let task: Task<Value, Error>
    }
    private let flights = Mutex<(next: UInt64, byKey: [Key: Flight])>((0, [:]))

    /// The value of the key's joinable run, or of a new run of `work`, which
    /// must call `land` once (later calls do nothing; a run that never lands
    /// stays joinable for ever).
    /// - Returns: the value, and whether it came from a run already joinable.
    func run(_ key: Key, _ work: @escaping @Sendable (_ land: @escaping @Sendable () -> Void) async throws -> Value)
        async throws -> (value: Value, joined: Bool) {
        let (task, joined) = flights.withLock { state -> (Task<Value, Error>, Bool) in
            if let existing = state.byKey[key] { return (existing.task, true) }
            let id = state.next
            state.next += 1
            let land: @Sendable () -> Void = { [self] in
                flights.withLock { state in
                    if state.byKey[key]?.id == id { state.byKey[key] = nil }
                }
            }
            let task = Task { try await work(land) }
            state.byKey[key] = Flight(id: id, task: task)
            return (task, false)
        }
        return (try await task.value, joined)
    }

    /// Whether a run for the key is joinable.
    func isFlying(_ key: Key) -> Bool {
        flights.withLock { $0.byKey[key] != nil }
    }
}
