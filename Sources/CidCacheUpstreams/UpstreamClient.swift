import AsyncHTTPClient
public import CidCacheCore
import Foundation
public import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// How long an upstream call may take.
public struct UpstreamBounds: Sendable {
    /// Seconds for the whole call, except the body of a streamed answer.
    public var timeout: Double
    /// Seconds a body may send nothing.
    public var idle: Double
    /// Seconds a streamed answer may run in all, from the call; nil: no cap.
    public var streamMax: Double?

    public init(timeout: Double, idle: Double = 60, streamMax: Double? = nil) {
        self.timeout = timeout
        self.idle = idle
        self.streamMax = streamMax
    }
}

/// An upstream's answer: the head at once, the body as it arrives.
public struct UpstreamResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    fileprivate let body: HTTPClientResponse.Body
    fileprivate let limit: Int
    fileprivate let idle: Double
    /// When the whole body must have arrived, and what to say if it has not; nil: no bound.
    fileprivate let deadline: (time: NIODeadline, message: String)?
    /// Where the body's watchdogs are scheduled.
    fileprivate let timers: EventLoop

    public func header(_ name: String) -> String? {
        HTTPHeader.value(name, in: headers)
    }

    /// The trailers that followed the body (a chunked answer's, Kubo's
    /// `X-Stream-Error`), once the body has ended; empty before, or without any.
    public var trailers: [(name: String, value: String)] {
        body.trailers.map { $0.map { (name: $0.name, value: $0.value) } } ?? []
    }

    /// Hands each piece of the body to `consume` as it arrives, from one task
    /// of its own, then calls `end` once: nil when the body is whole, else
    /// what cut it short. EIO when the connection breaks or the body passes
    /// the size limit; ETIMEDOUT when nothing arrived for the idle bound or the
    /// body is still coming at its deadline: AsyncHTTPClient's
    /// `execute(deadline:)` bounds only the wait for the head, so the body is
    /// read under watchdogs, which cancel the reading task.
    /// - Returns: what stops the reading early (the caller gave up); `end` is then called with its failure.
    @discardableResult
    public func deliver(_ consume: @escaping @Sendable (ByteBuffer) -> Void,
                        end: @escaping @Sendable (CacheError?) -> Void) -> @Sendable () -> Void {
        let reading = Mutex<(task: Task<Void, Never>?, stop: CacheError?)>((nil, nil))
        let stop: @Sendable (CacheError) -> Void = { reason in
            let task = reading.withLock { state -> Task<Void, Never>? in
                if state.stop == nil { state.stop = reason }
                return state.task
            }
            task?.cancel()
        }
        let body = self.body, limit = self.limit, idle = self.idle, timers = self.timers, deadline = self.deadline
        let task = Task {
            let silence = { timers.scheduleTask(in: .milliseconds(Int64(idle * 1000))) {
                stop(CacheError(.timedOut, "upstream sent nothing for \(UpstreamClient.format(idle)) s"))
            } }
            var silenceWatchdog = silence()
            let deadlineWatchdog = deadline.map { deadline in
                timers.scheduleTask(deadline: deadline.time) { stop(CacheError(.timedOut, deadline.message)) }
            }
            var received = 0
            var failure: CacheError?
            do {
                for try await buffer in body {
                    silenceWatchdog.cancel()
                    silenceWatchdog = silence()
                    received += buffer.readableBytes
                    guard received <= limit else { throw CacheError(.io, "upstream answer larger than \(limit) bytes") }
                    consume(buffer)
                }
                // A cancelled read may end the sequence quietly; it is not the end of the body.
                try Task.checkCancellation()
            } catch let error as CacheError {
                failure = error
            } catch let error as HTTPClientError where error == .deadlineExceeded {
                failure = CacheError(.timedOut, deadline?.message ?? "upstream did not finish in time")
            } catch {
                failure = CacheError(.io, "upstream answer cut short: \(UpstreamClient.describe(error))")
            }
            silenceWatchdog.cancel()
            deadlineWatchdog?.cancel()
            // A watchdog's or the caller's reason wins over what the cancelled read threw.
            end(failure.map { failure in reading.withLock { $0.stop } ?? failure })
        }
        let stoppedAlready = reading.withLock { state -> Bool in
            state.task = task
            return state.stop != nil
        }
        if stoppedAlready { task.cancel() }
        return { stop(CacheError(.io, "the reader of the upstream answer went away")) }
    }

    /// The body's pieces in order as `deliver` reads them, within its bounds:
    /// the iteration throws what cut the body short, and cancelling the
    /// reading task stops the reading.
    public var pieces: AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { pieces in
            let stop = deliver({ pieces.yield($0) }, end: { pieces.finish(throwing: $0) })
            pieces.onTermination = { reason in
                if case .cancelled = reason { stop() }
            }
        }
    }

    /// The whole body; the caller's cancellation stops the reading.
    public func collect() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await piece in pieces { bytes += piece.readableBytesView }
        // A cancelled iteration ends quietly; it is not the end of the body.
        try Task.checkCancellation()
        return bytes
    }
}

/// Performs upstream HTTP calls for every family (AsyncHTTPClient), bounded in
/// time and size. Network failures become `CacheError`s of docs/REFERENCE.md §5.
public final class UpstreamClient: Sendable {
    /// Made on first use, so fronts that never call upstream (`cidcache cid`) need no shutdown.
    private let http = Mutex<HTTPClient?>(nil)
    private let bounds: UpstreamBounds
    private var timeout: Double { bounds.timeout }
    private let responseLimit: Int

    public init(bounds: UpstreamBounds, responseLimitBytes: Int) {
        self.bounds = bounds
        responseLimit = responseLimitBytes
    }

    private var client: HTTPClient {
        http.withLock { client in
            if let client { return client }
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration)
            client = made
            return made
        }
    }

    private static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        // Redirects are followed by `send`, which decides what crosses to another origin.
        configuration.redirectConfiguration = .disallow
        configuration.timeout.connect = .seconds(10)
        // A refused connection is an answer (EIO), not something to retry until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        // AsyncHTTPClient's one hook into a new connection's pipeline.
        configuration.http1_1ConnectionDebugInitializer = QuickAck.install
        configuration.http2ConnectionDebugInitializer = QuickAck.install
        return configuration
    }

    /// Sends one request and returns once the answer's head has arrived,
    /// whatever its status, following redirects as `UpstreamRedirect` decides
    /// (a credential never reaches another origin). The whole call, body
    /// included, ends by the timeout.
    public func send(_ request: UpstreamHTTPRequest) async throws -> UpstreamResponse {
        let deadline = Deadline.after(seconds: timeout)
        var current = request
        var visited: Set<String> = [request.method + " " + request.url]
        while true {
            let response = try await send(current, deadline: deadline)
            guard UpstreamRedirect.statuses.contains(response.status), let location = response.header("location") else {
                return response
            }
            _ = try? await response.collect()  // frees the connection for the next hop
            guard visited.count <= UpstreamRedirect.maximumHops else {
                throw CacheError(.io, "upstream redirected more than \(UpstreamRedirect.maximumHops) times", status: response.status)
            }
            current = try UpstreamRedirect.next(after: current, status: response.status, location: location)
            guard visited.insert(current.method + " " + current.url).inserted else {
                throw CacheError(.io, "upstream redirects in a loop (\(current.url))", status: response.status)
            }
        }
    }

    private func send(_ request: UpstreamHTTPRequest, deadline: NIODeadline) async throws -> UpstreamResponse {
        let client = self.client
        let answer = await Deadline.race(deadline, on: client.eventLoopGroup.next()) {
            try await self.perform(request, deadline: deadline, on: client)
        }
        switch answer {
        case .success(let response)?:
            return response
        case .failure(let error)? where NIODeadline.now() < deadline:
            throw error
        case nil where Task.isCancelled:
            throw CancellationError()
        case .failure?, nil:
            throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
        }
    }

    private func perform(_ request: UpstreamHTTPRequest, deadline: NIODeadline, on client: HTTPClient) async throws -> UpstreamResponse {
        let started = NIODeadline.now()
        var http = HTTPClientRequest(url: request.url)
        http.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { http.headers.add(name: header.name, value: header.value) }
        http.headers.add(name: HopMark.header, value: HopMark.outgoing)
        if let body = request.body { http.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(http, deadline: deadline)
            let bodyDeadline: (time: NIODeadline, message: String)?
            if !request.streamed {
                bodyDeadline = (deadline, "upstream did not finish within \(Self.format(timeout)) s")
            } else if let most = bounds.streamMax {
                bodyDeadline = (started + .milliseconds(Int64(most * 1000)), "the stream ran past stream_max_s (\(Self.format(most)) s)")
            } else {
                bodyDeadline = nil
            }
            return UpstreamResponse(status: Int(response.status.code),
                                    headers: response.headers.map { (name: $0.name, value: $0.value) },
                                    body: response.body, limit: responseLimit, idle: bounds.idle, deadline: bodyDeadline,
                                    timers: client.eventLoopGroup.next())
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw CacheError(.timedOut, "upstream connection timed out")
        } catch {
            throw CacheError(.io, "upstream unreachable: \(Self.describe(error))")
        }
    }

    /// One call whose whole body is returned when its status is 2xx (or one of
    /// `alsoAccepting`); any other status fails as `failure` says. The one
    /// "send, collect, check, map the status" of the families that fetch themselves.
    public func fetchWhole(_ request: UpstreamHTTPRequest, alsoAccepting: Set<Int> = [],
                           failure: (_ status: Int, _ headers: [(name: String, value: String)], _ body: [UInt8]) -> CacheError)
        async throws -> (response: UpstreamResponse, body: [UInt8]) {
        let response = try await send(request)
        let body = try await response.collect()
        guard (200..<300).contains(response.status) || alsoAccepting.contains(response.status) else {
            throw failure(response.status, response.headers, body)
        }
        return (response, body)
    }

    /// A connection failure in the user's terms ("connection refused", "the
    /// upstream closed the connection", "TLS: ..."), never a path of the machine that built the binary.
    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let connection = error as? NIOConnectionError {
            if let failure = connection.connectionErrors.first { return describe(failure.error) }
            if let lookup = connection.dnsAError ?? connection.dnsAAAAError { return "cannot resolve \(connection.host): \(describe(lookup))" }
        }
        if let http = error as? HTTPClientError {
            switch http {
            case .remoteConnectionClosed: return "the upstream closed the connection"
            case .connectTimeout: return "the connection timed out"
            case .tlsHandshakeTimeout: return "the TLS handshake timed out"
            default: break
            }
        }
        var text = String(describing: error)
        // Source locations (`/build/.../ssl_lib.cc:123`, `#file` paths) say nothing to the user.
        text = text.replacingOccurrences(of: #"\s*(at\s+)?(/[^\s/:()]+){2,}/?(:\d+)*"#, with: "", options: .regularExpression)
        if String(reflecting: type(of: error)).contains("SSL") { return "TLS: " + text }
        return text
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Stops the HTTP client; call once at shutdown.
    public func shutdown() async {
        let client = http.withLock { client in defer { client = nil }; return client }
        try? await client?.shutdown()
    }
}
