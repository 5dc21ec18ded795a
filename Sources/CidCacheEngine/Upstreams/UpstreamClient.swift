import AsyncHTTPClient
import CidCacheCore
import NIOCore
import NIOHTTP1

/// An upstream's answer as it came over the wire.
public struct UpstreamHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Performs upstream HTTP calls for every family (AsyncHTTPClient), bounded in
/// time and size. Network failures become `CacheError`s of SPEC section 3.
public final class UpstreamClient: Sendable {
    private let client: HTTPClient
    private let timeout: Double
    private let responseLimit: Int

    public init(timeoutSeconds: Double, responseLimitBytes: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
        configuration.timeout.connect = .seconds(10)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        timeout = timeoutSeconds
        responseLimit = responseLimitBytes
    }

    /// Sends one request and collects the whole answer, whatever its status.
    public func send(_ request: UpstreamHTTPRequest) async throws -> UpstreamHTTPResponse {
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: UpstreamHTTPResponse?.self) { group in
            group.addTask { try await self.perform(request) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout * 1_000_000_000))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else {
                throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
            }
            return response
        }
    }

    private func perform(_ request: UpstreamHTTPRequest) async throws -> UpstreamHTTPResponse {
        var http = HTTPClientRequest(url: request.url)
        http.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { http.headers.add(name: header.name, value: header.value) }
        if let body = request.body { http.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(http, timeout: .milliseconds(Int64(timeout * 1000) + 1000))
            let buffer = try await response.body.collect(upTo: responseLimit)
            return UpstreamHTTPResponse(
                status: Int(response.status.code),
                headers: response.headers.map { (name: $0.name, value: $0.value) },
                body: Array(buffer.readableBytesView))
        } catch let error as CacheError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CacheError(.timedOut, "upstream did not answer within \(Self.format(timeout)) s")
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw CacheError(.timedOut, "upstream connection timed out")
        } catch is NIOTooManyBytesError {
            throw CacheError(.io, "upstream answer larger than \(responseLimit) bytes")
        } catch {
            throw CacheError(.io, "upstream unreachable: \(error)")
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Stops the HTTP client; call once at shutdown.
    public func shutdown() async {
        try? await client.shutdown()
    }
}
