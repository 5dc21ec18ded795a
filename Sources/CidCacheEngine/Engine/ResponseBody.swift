public import CidCacheCore
import CidCacheUpstreams
import Synchronization

/// The bytes of one answer as they become available: read from the store for
/// a hit (`StoredBytes`), growing while the upstream sends them for a miss.
/// Every caller of a shared fetch reads the same body, each at its own offset,
/// so a reader sees the first bytes before the upstream has finished.
public final class ResponseBody: Sendable {
    /// What a read at some offset gets: bytes, the end, or the failure that cut the answer short.
    public enum Chunk: Sendable {
        case bytes(ArraySlice<UInt8>)
        case end
        case failed(CacheError)
    }

    private struct State {
        var bytes: [UInt8] = []
        var ending: Result<Void, CacheError>?
        /// The CID of the whole body, when whoever finished it computed one (the store step).
        var contentCID: CID?
        /// Set by the first `end`: its two lock sections let no second one through.
        var ended = false
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var completions: [@Sendable (Result<[UInt8], CacheError>) -> Void] = []
    }
    /// A read waiting for bytes at its offset.
    private struct Waiter {
        let id: UInt64
        let offset: Int
        let limit: Int
        let callback: @Sendable (Chunk) -> Void
    }
    private let state: Mutex<State>
    /// An answer in the store, read from there at each offset asked, never copied whole.
    private let stored: StoredBytes?

    /// A body still to be filled by `append` and ended by `finish` or `fail`.
    public init() {
        state = Mutex(State())
        stored = nil
    }

    /// A body that is already whole.
    public init(complete bytes: [UInt8]) {
        state = Mutex(State(bytes: bytes, ending: .success(())))
        stored = nil
    }

    /// An answer in the store.
    public init(stored: StoredBytes) {
        state = Mutex(State(ending: .success(())))
        self.stored = stored
    }

    /// Adds bytes and wakes the readers waiting for them.
    public func append(_ more: some Collection<UInt8>) {
        guard !more.isEmpty else { return }
        let woken = state.withLock { state -> [(@Sendable (Chunk) -> Void, Chunk)] in
            state.bytes.append(contentsOf: more)
            return Self.drain(&state)
        }
        woken.forEach { $0.0($0.1) }
    }

    /// Marks the body whole; `contentCID` is its CID when already computed, so nobody hashes it again.
    public func finish(contentCID: CID? = nil) {
        if let contentCID { state.withLock { $0.contentCID = contentCID } }
        end(.success(()))
    }

    /// The CID the body was finished with, if any.
    public var contentCID: CID? { state.withLock { $0.contentCID } }

    /// Cuts the body short: readers get the bytes already there, then the error.
    public func fail(_ error: CacheError) { end(.failure(error)) }

    private func end(_ ending: Result<Void, CacheError>) {
        // Bookkeeping (the log line, statistics) runs before the end is
        // published: a reader that sees the end may look at what it wrote.
        let early = state.withLock { state -> (completions: [@Sendable (Result<[UInt8], CacheError>) -> Void], bytes: [UInt8])? in
            guard !state.ended, state.ending == nil else { return nil }
            state.ended = true
            defer { state.completions = [] }
            return (state.completions, state.bytes)
        }
        guard let early else { return }
        let result = ending.map { early.bytes }
        early.completions.forEach { $0(result) }
        let (woken, late) = state.withLock { state -> ([(@Sendable (Chunk) -> Void, Chunk)], [@Sendable (Result<[UInt8], CacheError>) -> Void]) in
            state.ending = ending
            defer { state.completions = [] }
            return (Self.drain(&state), state.completions)
        }
        late.forEach { $0(result) }
        woken.forEach { $0.0($0.1) }
    }

    private static func drain(_ state: inout State) -> [(@Sendable (Chunk) -> Void, Chunk)] {
        var ready: [(@Sendable (Chunk) -> Void, Chunk)] = []
        var waiting: [Waiter] = []
        for waiter in state.waiters {
            if let chunk = chunk(at: waiter.offset, limit: waiter.limit, state) {
                ready.append((waiter.callback, chunk))
            } else {
                waiting.append(waiter)
            }
        }
        state.waiters = waiting
        return ready
    }

    private static func chunk(at offset: Int, limit: Int, _ state: State) -> Chunk? {
        if offset < state.bytes.count {
            // `limit` may be .max (drain): never add it to the offset.
            return .bytes(state.bytes[offset..<(offset + Swift.min(limit, state.bytes.count - offset))])
        }
        switch state.ending {
        case nil: return nil
        case .success?: return .end
        case .failure(let error)?: return .failed(error)
        }
    }

    /// What lies at `offset` (at most `limit` bytes) without waiting: bytes,
    /// the end or the failure; nil when nothing is there yet. A stored answer
    /// always has its bytes now, so a hit is served without suspending.
    public func availableNow(at offset: Int, limit: Int) -> Chunk? {
        if let stored { return Self.chunk(of: stored, at: offset, limit: limit) }
        return state.withLock { Self.chunk(at: offset, limit: limit, $0) }
    }

    /// Calls back with what lies at `offset` (at most `limit` bytes) as soon as
    /// there is something: at once when available, else on the next append or
    /// end, from the thread that appends (the FUSE front replies from there,
    /// with no task per read).
    public func read(at offset: Int, limit: Int, _ callback: @escaping @Sendable (Chunk) -> Void) {
        _ = register(at: offset, limit: limit, callback)
    }

    /// `read`, returning the waiting read's id when it waits.
    private func register(at offset: Int, limit: Int, _ callback: @escaping @Sendable (Chunk) -> Void) -> UInt64? {
        if let stored {
            callback(Self.chunk(of: stored, at: offset, limit: limit))
            return nil
        }
        let waiting = state.withLock { state -> (ready: Chunk?, id: UInt64?) in
            if let chunk = Self.chunk(at: offset, limit: limit, state) { return (chunk, nil) }
            state.nextWaiter += 1
            state.waiters.append(Waiter(id: state.nextWaiter, offset: offset, limit: limit, callback: callback))
            return (nil, state.nextWaiter)
        }
        if let ready = waiting.ready { callback(ready) }
        return waiting.id
    }

    /// What lies at `offset` (at most `limit` bytes), waiting for it when it
    /// is not there yet; `CancellationError` as soon as the task is cancelled,
    /// and the wait is dropped then.
    public func chunk(at offset: Int, limit: Int) async throws -> Chunk {
        if let ready = availableNow(at: offset, limit: limit) { return ready }
        return try await waitUnlessCancelled(register: { done in register(at: offset, limit: limit, done) },
                                             unregister: { [self] id in state.withLock { $0.waiters.removeAll { $0.id == id } } })
    }

    /// A stored answer whose bytes left the store between its open and a read.
    private static let removedWhileRead = CacheError(.notFound, "the answer was removed while it was read")

    private static func chunk(of stored: StoredBytes, at offset: Int, limit: Int) -> Chunk {
        do {
            guard let slice = try stored.read(at: offset, count: limit) else {
                return .failed(removedWhileRead)
            }
            return slice.isEmpty ? .end : .bytes(slice)
        } catch {
            return .failed(error)
        }
    }

    /// Calls back once the body has ended, with how many bytes it had or the failure.
    public func whenEnded(_ callback: @escaping @Sendable (Result<Int, CacheError>) -> Void) {
        if let stored { return callback(.success(stored.size)) }
        whenComplete { callback($0.map(\.count)) }
    }

    /// Calls back once the body has ended, with all of it or the failure.
    public func whenComplete(_ callback: @escaping @Sendable (Result<[UInt8], CacheError>) -> Void) {
        if let stored {
            let result: Result<[UInt8], CacheError>
            do throws(CacheError) {
                result = try stored.readAll().map { .success($0) } ?? .failure(Self.removedWhileRead)
            } catch {
                result = .failure(error)
            }
            return callback(result)
        }
        let result: Result<[UInt8], CacheError>? = state.withLock { state in
            guard let ending = state.ending else {
                state.completions.append(callback)
                return nil
            }
            return ending.map { state.bytes }
        }
        if let result { callback(result) }
    }

    /// The whole body, once it has ended; the failure that cut it short, or
    /// `CancellationError` as soon as the task is cancelled.
    public func collect() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await piece in pieces(size: .max) { bytes += piece }
        return bytes
    }

    /// The bytes received so far.
    public var received: [UInt8] { state.withLock { $0.bytes } }

    /// For tests: the reads waiting for bytes (a cancelled one is dropped at once).
    var waitingReads: Int { state.withLock { $0.waiters.count } }
}

extension ResponseBody: AsyncSequence {
    public typealias Element = ArraySlice<UInt8>

    /// The body's pieces in order, as they arrive: the one way a task reads
    /// an answer. The iteration ends at the body's end; it throws the failure
    /// that cut the body short (after the bytes before it), or
    /// `CancellationError` as soon as the reading task is cancelled.
    public func makeAsyncIterator() -> Pieces.AsyncIterator {
        pieces().makeAsyncIterator()
    }

    /// The pieces from `offset` on, each at most `size` bytes.
    public func pieces(from offset: Int = 0, size: Int = 1 << 16) -> Pieces {
        Pieces(body: self, offset: offset, size: size)
    }

    /// A body's pieces from an offset on (`pieces(from:size:)`).
    public struct Pieces: AsyncSequence, Sendable {
        public typealias Element = ArraySlice<UInt8>
        let body: ResponseBody
        let offset: Int
        let size: Int

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(body: body, offset: offset, size: size)
        }

        public struct AsyncIterator: AsyncIteratorProtocol {
            let body: ResponseBody
            var offset: Int
            let size: Int
            var over = false

            public mutating func next() async throws -> ArraySlice<UInt8>? {
                guard !over else { return nil }
                switch try await body.chunk(at: offset, limit: size) {
                case .bytes(let piece):
                    offset += piece.count
                    return piece
                case .end:
                    over = true
                    return nil
                case .failed(let error):
                    over = true
                    throw error
                }
            }
        }
    }
}
