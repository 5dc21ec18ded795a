import CidCacheCore
import Foundation
import Synchronization

/// Keeps one namespace's upstream calls within its limits: at most
/// `concurrent` at once and `perMinute` started in any minute. Calls past a
/// limit wait their turn in order instead of failing, so a burst of misses
/// never becomes a burst of 429s.
final class UpstreamLimiter: Sendable {
    let concurrent: Int
    let perMinute: Int?
    /// The budget's window: a minute (shorter in tests).
    let window: TimeInterval

    private struct State {
        var active = 0
        var starts: [Date] = []
        var queue: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init(concurrent: Int, perMinute: Int?, window: TimeInterval = 60) {
        self.concurrent = max(1, concurrent)
        self.perMinute = perMinute.map { max(1, $0) }
        self.window = window
    }

    /// Runs `call` once a slot is free and the minute's budget allows; EBUSY,
    /// without waiting, when the budget allows no start before `deadline`
    /// (`upstream_timeout_s` bounds a whole call, its wait for the budget too).
    func run<T: Sendable>(before deadline: Date = .distantFuture, _ call: () async throws -> T) async throws -> T {
        await acquireSlot()
        defer { releaseSlot() }
        try await waitForBudget(before: deadline)
        return try await call()
    }

    private func acquireSlot() async {
        let admitted = state.withLock { state -> Bool in
            guard state.active < concurrent, state.queue.isEmpty else { return false }
            state.active += 1
            return true
        }
        if admitted { return }
        await withCheckedContinuation { continuation in
            let admittedNow = state.withLock { state -> Bool in
                if state.active < concurrent && state.queue.isEmpty {
                    state.active += 1
                    return true
                }
                state.queue.append(continuation)
                return false
            }
            if admittedNow { continuation.resume() }
        }
    }

    /// Hands the slot to the next waiter, or frees it.
    private func releaseSlot() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.queue.isEmpty else {
                state.active -= 1
                return nil
            }
            return state.queue.removeFirst()  // the slot passes on: active stays the same
        }
        next?.resume()
    }

    /// Sleeps until a call may start within the per-minute budget, then counts
    /// it; EBUSY when that start would come at or past `deadline`.
    private func waitForBudget(before deadline: Date) async throws(CacheError) {
        guard let perMinute else { return }
        while true {
            let wait = state.withLock { state -> TimeInterval in
                let now = Date()
                state.starts.removeAll { now.timeIntervalSince($0) >= window }
                if state.starts.count < perMinute {
                    state.starts.append(now)
                    return 0
                }
                return window - now.timeIntervalSince(state.starts[0])
            }
            if wait <= 0 { return }
            guard Date().addingTimeInterval(wait) < deadline else {
                throw CacheError(.busy, "the per_minute limit (\(perMinute)) is spent: the next call could start in "
                                 + "\(Int(wait.rounded(.up))) s, past upstream_timeout_s")
            }
            try? await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
        }
    }
}
