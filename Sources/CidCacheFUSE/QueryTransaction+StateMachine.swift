import CidCacheCore
import CidCacheEngine
import Glibc

extension QueryTransaction {
    /// The rules of one query transaction, with no lock, no kernel and no
    /// engine: each event (a write, a read, the engine's answer, a chunk of the
    /// body, an interrupt, the release) changes the state and returns what the
    /// driver must do, which it does outside its lock.
    ///
    /// The request is written, the first read sends it, later reads stream the
    /// answer like a pipe (docs/REFERENCE.md §4): reads wait in arrival order, one at
    /// a time is served from the body at the cursor, and the cursor moves by
    /// the bytes each one got. A failure is every later read's errno; so is a
    /// body cut short, once its bytes are read. An interrupted read gets EINTR
    /// and leaves the queue; the request goes on. Reads are known by the
    /// serial the gate parked them under, and kept only while unanswered.
    struct StateMachine {
        typealias Read = ReplyGate<R>.Parked

        /// A read waiting for its turn.
        struct Waiting: Equatable {
            let read: Read
            let size: Int
        }

        /// Reading the body for one read: at most `size` bytes at `offset`.
        struct Serve: Equatable {
            let read: Read
            let body: ResponseBody
            let offset: Int
            let size: Int

            static func == (a: Serve, b: Serve) -> Bool {
                a.read == b.read && a.body === b.body && a.offset == b.offset && a.size == b.size
            }
        }

        /// The reply a read gets.
        enum Reply: Equatable {
            case bytes(ArraySlice<UInt8>)
            /// Nothing more: an empty read.
            case end
            case error(Int32)
        }

        /// What the driver does after an event.
        enum Action: Equatable {
            case none
            /// The read waits its turn: for the answer, or behind the read being served.
            case park
            /// Key the request and answer it (`answered` or `failed` follows,
            /// at once for a hit or a refusal, later from the upstream).
            case start([UInt8])
            /// Read the body for one read (`chunk` follows).
            case serve(Serve)
            /// Answer one read, then serve the next one, if any.
            case reply(Read, Reply, then: Serve?)
            /// Answer these reads with an errno.
            case fail([Read], Int32)
        }

        /// What the driver does after a write.
        enum WriteAction {
            case accept(Int)
            /// Answer the write with the error's errno, and record it in `errors`.
            case refuse(CacheError)
        }

        /// The answer being read.
        struct Answering {
            let body: ResponseBody
            /// How far the reader has read: offsets from the kernel are ignored, like a pipe.
            var cursor = 0
            /// The read whose chunk is awaited.
            var serving: Waiting?
            var queue: [Waiting] = []
        }

        enum State {
            /// Collecting the request.
            case writing([UInt8])
            /// A write went past the limit: the request is gone and every read fails.
            case tooLarge
            /// The request went to the engine; reads wait for the answer.
            case waiting([Waiting])
            case answered(Answering)
            /// The engine refused or failed the request: every read gets this errno.
            case failed(Int32)
            /// The kernel released the file: nothing is answered any more.
            case released
            /// Only inside a mutating call, so that no buffer is copied on change.
            case modifying
        }

        private(set) var state: State = .writing([])
        let limit: Int

        /// - Parameter limit: the largest request, in bytes.
        init(limit: Int) {
            self.limit = limit
        }

        // MARK: Events

        /// The caller wrote more of the request.
        mutating func write(_ bytes: some Collection<UInt8>) -> WriteAction {
            switch state {
            case .writing(var buffer):
                if buffer.count + bytes.count > limit {
                    state = .tooLarge
                    return .refuse(tooLarge)
                }
                state = .modifying  // drop the state's reference so the append doesn't copy
                buffer.append(contentsOf: bytes)
                state = .writing(buffer)
                return .accept(bytes.count)
            case .tooLarge:
                return .refuse(tooLarge)
            case .waiting, .answered, .failed, .released:
                return .refuse(CacheError(.invalidRequest, "write after the request was sent (one transaction per open)"))
            case .modifying:
                preconditionFailure("a query transaction left half changed")
            }
        }

        private var tooLarge: CacheError { CacheError(.tooLarge, "request larger than \(limit) bytes") }

        /// The caller reads `size` bytes: the first read sends the request.
        mutating func read(_ read: Read, size: Int) -> Action {
            let waiting = Waiting(read: read, size: size)
            switch state {
            case .writing(let request):
                state = .waiting([waiting])
                return .start(request)
            case .tooLarge:
                return .reply(read, .error(EFBIG), then: nil)
            case .waiting(var queue):
                state = .modifying
                queue.append(waiting)
                state = .waiting(queue)
                return .park
            case .answered(var answering):
                state = .modifying
                defer { state = .answered(answering) }
                guard answering.serving == nil else {
                    answering.queue.append(waiting)
                    return .park
                }
                answering.serving = waiting
                return .serve(Serve(read: read, body: answering.body, offset: answering.cursor, size: size))
            case .failed(let errno):
                return .reply(read, .error(errno), then: nil)
            case .released:
                return .reply(read, .error(EBADF), then: nil)
            case .modifying:
                preconditionFailure("a query transaction left half changed")
            }
        }

        /// The answer has begun (a hit, or the upstream's): the oldest read is served.
        mutating func answered(_ body: ResponseBody) -> Action {
            guard case .waiting(var queue) = state else { return .none }
            guard !queue.isEmpty else {
                state = .answered(Answering(body: body))
                return .none
            }
            let first = queue.removeFirst()
            state = .answered(Answering(body: body, serving: first, queue: queue))
            return .serve(Serve(read: first.read, body: body, offset: 0, size: first.size))
        }

        /// The request was refused or its upstream failed: every waiting read fails.
        mutating func failed(_ errno: Int32) -> Action {
            guard case .waiting(let queue) = state else { return .none }
            state = .failed(errno)
            return queue.isEmpty ? .none : .fail(queue.map(\.read), errno)
        }

        /// What the body held for the read being served.
        mutating func chunk(_ chunk: ResponseBody.Chunk, for read: Read) -> Action {
            // A read interrupted while served: its chunk comes after the next read's turn began.
            guard case .answered(var answering) = state, answering.serving?.read == read else { return .none }
            state = .modifying
            defer { state = .answered(answering) }
            let reply: Reply
            switch chunk {
            case .bytes(let slice):
                answering.cursor += slice.count
                reply = .bytes(slice)
            case .end:
                reply = .end
            case .failed(let error):
                reply = .error(error.errno)
            }
            return .reply(read, reply, then: Self.next(&answering))
        }

        /// The caller was interrupted while its read waited: EINTR, unless the
        /// read was answered already. The request goes on.
        mutating func interrupted(_ read: Read) -> Action {
            switch state {
            case .waiting(var queue):
                guard let index = queue.firstIndex(where: { $0.read == read }) else { return .none }
                state = .modifying
                queue.remove(at: index)
                state = .waiting(queue)
                return .reply(read, .error(EINTR), then: nil)
            case .answered(var answering):
                state = .modifying
                defer { state = .answered(answering) }
                if answering.serving?.read == read {
                    return .reply(read, .error(EINTR), then: Self.next(&answering))
                }
                guard let index = answering.queue.firstIndex(where: { $0.read == read }) else { return .none }
                answering.queue.remove(at: index)
                return .reply(read, .error(EINTR), then: nil)
            case .writing, .tooLarge, .failed, .released:
                return .none
            case .modifying:
                preconditionFailure("a query transaction left half changed")
            }
        }

        /// The kernel released the file. It waits for every read first, so no
        /// read should be left; any that is gets EBADF. A fetch under way goes
        /// on and fills the cache, but its answer is no longer kept here.
        mutating func released() -> Action {
            let left: [Waiting]
            switch state {
            case .waiting(let queue): left = queue
            case .answered(let answering): left = (answering.serving.map { [$0] } ?? []) + answering.queue
            default: left = []
            }
            state = .released
            return left.isEmpty ? .none : .fail(left.map(\.read), EBADF)
        }

        /// Moves the oldest waiting read to `serving`.
        private static func next(_ answering: inout Answering) -> Serve? {
            guard !answering.queue.isEmpty else {
                answering.serving = nil
                return nil
            }
            let next = answering.queue.removeFirst()
            answering.serving = next
            return Serve(read: next.read, body: answering.body, offset: answering.cursor, size: next.size)
        }

        /// The reads still unanswered, in the order they will be served.
        var pendingReads: [Read] {
            switch state {
            case .waiting(let queue): return queue.map(\.read)
            case .answered(let answering): return ((answering.serving.map { [$0] } ?? []) + answering.queue).map(\.read)
            default: return []
            }
        }
    }
}
