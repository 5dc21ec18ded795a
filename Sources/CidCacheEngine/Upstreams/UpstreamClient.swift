import AsyncHTTPClient
import CidCacheCore
import NIOCore
import NIOHTTP1
import Synchronization

/// An upstream's answer: the head at once, the body as it arrives.
public struct UpstreamResponse: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    fileprivate let body: HTTPClientResponse.Body
    fileprivate let limit: Int
    fileprivate let timeout: Double
    /// When the whole call (body included) must have ended: the send plus the timeout.
    fileprivate let deadline: NIODeadline
    /// Where the body's watchdog is scheduled.
    fileprivate let timers: EventLoop

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Hands each piece of the body to `consume` as it arrives. Fails with EIO
    /// when the connection breaks or the body passes the size limit, and with
    /// ETIMEDOUT when the body is still coming (or stalled, connection open)
    /// at the call's deadline: AsyncHTTPClient's `execute(deadline:)` bounds
    /// only the wait for the head, so the body is read under a watchdog.
    public func stream(_ consume: (ByteBuffer) throws -> Void) async throws {
        var received = 0
        let (chunks, continuation) = AsyncThrowingStream<ByteBuffer, Error>.makeStream()
        let body = self.body, timeout = self.timeout
        let reader = Task {
            do {
                for try await buffer in body { continuation.yield(buffer) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let watchdog = timers.scheduleTask(deadline: deadline) {
            continuation.finish(throwing: CacheError(.timedOut, "upstream did not finish within \(UpstreamClient.format(timeout)) s"))
            reader.cancel()
        }
        defer {
            watchdog.cancel()
            reader.cancel()
        }
        do {
            for try await buffer in chunks {
                received += buffer.readableBytes
                guard received <= limit else { throw CacheError(.io, "upstream answer larger than \(limit) bytes") }
                try consume(buffer)
            }
            // A cancelled wait ends the chunk sequence quietly; it is not the end of the body.
            try Task.checkCancellation()
        } catch let error as CacheError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw CacheError(.timedOut, "upstream did not finish within \(UpstreamClient.format(timeout)) s")
        } catch {
            throw CacheError(.io, "upstream answer cut short: \(error)")
        }
    }

    /// The whole body.
    public func collect() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await stream { bytes.append(contentsOf: $0.readableBytesView) }
        return bytes
    }
}

/// Performs upstream HTTP calls for every family (AsyncHTTPClient), bounded in
/// time and size. Network failures become `CacheError`s of SPEC section 3.
public final class UpstreamClient: Sendable {
    /// Made on first use, so fronts that never call upstream (`cidcache cid`) need no shutdown.
    private let http = Mutex<HTTPClient?>(nil)
    private let timeout: Double
    private let responseLimit: Int

    public init(timeoutSeconds: Double, responseLimitBytes: Int) {
        timeout = timeoutSeconds
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
        configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
        configuration.timeout.connect = .seconds(10)
        // A refused connection is an answer (EIO), not something to retry until the timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return configuration
    }

    /// Sends one request and returns once the answer's head has arrived,
    /// whatever its status. The whole call, body included, ends by the timeout.
    public func send(_ request: UpstreamHTTPRequest) async throws -> UpstreamResponse {
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        let client = self.client
        let call = Task { try await self.perform(request, deadline: deadline, on: client) }
        // An event-loop timer, not a sleeping task: a cancelled Task.sleep keeps
        // about 1 KiB until its deadline, which at a thousand misses a second
        // and a 300 s timeout is hundreds of megabytes.
        let timer = client.eventLoopGroup.next().scheduleTask(deadline: deadline) { call.cancel() }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            do {
                return try await call.value
            } catch where NIODeadline.now() >= deadline {
                throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
            }
        } onCancel: {
            call.cancel()
        }
    }

    private func perform(_ request: UpstreamHTTPRequest, deadline: NIODeadline, on client: HTTPClient) async throws -> UpstreamResponse {
        var http = HTTPClientRequest(url: request.url)
        http.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { http.headers.add(name: header.name, value: header.value) }
        if let body = request.body { http.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(http, deadline: deadline)
            return UpstreamResponse(status: Int(response.status.code),
                                    headers: response.headers.map { (name: $0.name, value: $0.value) },
                                    body: response.body, limit: responseLimit, timeout: timeout, deadline: deadline,
                                    timers: client.eventLoopGroup.next())
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw CacheError(.timedOut, "upstream connection timed out")
        } catch {
            throw CacheError(.io, "upstream unreachable: \(error)")
        }
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
