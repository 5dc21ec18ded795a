import CidCacheCore
import CidCacheUpstreams
import NIOCore
import Synchronization

/// Keeps one namespace's upstream calls within its limits: at most
/// `concurrent` at once and `perMinute` started in any minute. Calls past a
/// limit wait their turn in order instead of failing, so a burst of misses
/// never becomes a burst of 429s.
final class UpstreamLimiter: Sendable {
    let concurrent: Int
    let perMinute: Int?
    /// The budget's window: a minute (shorter in tests).
    let window: TimeAmount

    private struct State {
        var active = 0
        var starts: [NIODeadline] = []
        /// Calls waiting for a slot, in order; each is resumed with whether it got one.
        var queue: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextID: UInt64 = 0
        /// Waits begun and not yet decided, and those of them whose deadline passed before they queued.
        var undecided: Set<UInt64> = []
        var expired: Set<UInt64> = []
    }
    private let state = Mutex(State())

    init(concurrent: Int, perMinute: Int?, windowSeconds: Double = 60) {
        self.concurrent = max(1, concurrent)
        self.perMinute = perMinute.map { max(1, $0) }
        window = .nanoseconds(Int64(windowSeconds * 1e9))
    }

    /// Runs `call` once a slot is free and the minute's budget allows; EBUSY
    /// when no slot came free by `deadline`, or (without waiting) when the
    /// budget allows no start before it: `upstream_timeout_s` bounds a whole
    /// call, its waits for a slot and for the budget too.
    func run<T: Sendable>(before deadline: NIODeadline = .distantFuture, _ call: () async throws -> T) async throws -> T {
        try await acquireSlot(before: deadline)
        defer { releaseSlot() }
        try await waitForBudget(before: deadline)
        return try await call()
    }

    private func acquireSlot(before deadline: NIODeadline) async throws(CacheError) {
        let id = state.withLock { state -> UInt64? in
            guard state.active < concurrent, state.queue.isEmpty else {
                state.nextID += 1
                state.undecided.insert(state.nextID)
                return state.nextID
            }
            state.active += 1
            return nil
        }
        guard let id else { return }
        // Wakes the wait at its deadline, unless a slot came first (then it is cancelled).
        let timer = deadline == .distantFuture ? nil : Deadline.at(deadline) { self.expire(id) }
        defer { timer?.cancel() }
        let admitted = await withCheckedContinuation { continuation in
            let answer = state.withLock { state -> Bool? in
                if state.expired.remove(id) != nil {
                    state.undecided.remove(id)
                    return false
                }
                if state.active < concurrent && state.queue.isEmpty {
                    state.active += 1
                    state.undecided.remove(id)
                    return true
                }
                state.queue.append((id, continuation))
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
        guard admitted else {
            throw CacheError(.busy, "all \(concurrent) concurrent upstream calls stayed busy past upstream_timeout_s")
        }
    }

    /// Ends a slot wait whose deadline passed: resumed without a slot, or marked for when it queues.
    private func expire(_ id: UInt64) {
        let waiting = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let index = state.queue.firstIndex(where: { $0.id == id }) else {
                if state.undecided.contains(id) { state.expired.insert(id) }
                return nil
            }
            state.undecided.remove(id)
            return state.queue.remove(at: index).continuation
        }
        waiting?.resume(returning: false)
    }

    /// Hands the slot to the next waiter, or frees it.
    private func releaseSlot() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.queue.isEmpty else {
                state.active -= 1
                return nil
            }
            let next = state.queue.removeFirst()  // the slot passes on: active stays the same
            state.undecided.remove(next.id)
            return next.continuation
        }
        next?.resume(returning: true)
    }

    /// Sleeps until a call may start within the per-minute budget, then counts
    /// it; EBUSY when that start would come at or past `deadline`.
    private func waitForBudget(before deadline: NIODeadline) async throws {
        guard let perMinute else { return }
        while true {
            let next = state.withLock { state -> NIODeadline? in
                let now = NIODeadline.now()
                state.starts.removeAll { now - $0 >= window }
                if state.starts.count < perMinute {
                    state.starts.append(now)
                    return nil
                }
                return state.starts[0] + window
            }
            guard let next else { return }
            guard next < deadline else {
                let wait = Double((next - .now()).nanoseconds) / 1e9
                throw CacheError(.busy, "the per_minute limit (\(perMinute)) is spent: the next call could start in "
                                 + "\(Int(wait.rounded(.up))) s, past upstream_timeout_s")
            }
            try await Deadline.sleep(until: next)
        }
    }
}
