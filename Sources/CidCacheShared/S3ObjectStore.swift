import AsyncHTTPClient
public import CidCacheCore
public import CidCacheUpstreams
import Foundation
public import NIOCore
import NIOHTTP1
import Synchronization

/// Where the shared tier's bucket is and how to sign for it.
public struct BucketLocation: Sendable {
    /// The S3 endpoint, `scheme://host[:port]`, addressed path-style (`/bucket/key`).
    public var url: String
    public var bucket: String
    public var region: String
    /// Nil: requests go unsigned (a bucket readable anonymously).
    public var credentials: AWSCredentials?

    public init(url: String, bucket: String, region: String, credentials: AWSCredentials?) {
        self.url = url
        self.bucket = bucket
        self.region = region
        self.credentials = credentials
    }
}

/// The shared tier's objects in an S3-compatible bucket: GET and conditional
/// PUT (`If-None-Match: *`, `If-Match`), signed with SigV4 and bounded in
/// time: nothing here waits past the deadline it is given, for a connection,
/// the answer's head or its body alike.
public final class S3ObjectStore: ObjectStore {
    private let location: BucketLocation
    private let origin: String
    private let host: String
    private let reads: LazyHTTPClient
    private let writes: LazyHTTPClient

    /// - Parameters:
    ///   - readTimeoutMilliseconds: the most a lookup's connection may take to open or stay silent.
    ///   - writeTimeoutMilliseconds: the same for an upload's.
    public init(location: BucketLocation, readTimeoutMilliseconds: Int, writeTimeoutMilliseconds: Int) throws(CacheError) {
        var url = location.url
        while url.hasSuffix("/") { url.removeLast() }
        guard let schemeEnd = url.range(of: "://"), ["http", "https"].contains(url[..<schemeEnd.lowerBound].lowercased()),
              !url[schemeEnd.upperBound...].isEmpty, !url[schemeEnd.upperBound...].contains("/") else {
            throw CacheError(.invalidRequest,
                             "shared.url must be http(s)://host[:port], without a path (or file:///path for a directory)")
        }
        self.location = location
        origin = url
        host = String(url[schemeEnd.upperBound...])
        reads = LazyHTTPClient(silence: .milliseconds(Int64(readTimeoutMilliseconds)), connections: 16)
        writes = LazyHTTPClient(silence: .milliseconds(Int64(writeTimeoutMilliseconds)), connections: 8)
    }

    public func get(_ key: String, limit: Int, direction: ObjectStoreDirection,
                    deadline: NIODeadline) async throws(ObjectStoreError) -> StoredObject {
        let (status, headers, body) = try await call("GET", key, body: [], extraHeaders: [], limit: limit, direction: direction,
                                                     deadline: deadline)
        switch status {
        case 200: return StoredObject(bytes: body, etag: headers.first(name: "etag"))
        case 404 where S3XML.errorDocument(body).code != "NoSuchBucket": throw .notFound
        default: throw Self.failure("GET", status, body)
        }
    }

    /// Writes `bytes` at `key` if `condition` holds (`If-None-Match: *` or
    /// `If-Match`), with their SHA-256 for the bucket to check.
    public func put(_ key: String, _ bytes: [UInt8], condition: WriteCondition,
                    deadline: NIODeadline) async throws(ObjectStoreError) {
        let digest = SHA256.hash(bytes)
        var headers = [(name: "x-amz-checksum-sha256", value: Base64.encode(digest))]
        switch condition {
        case .absent: headers.append((name: "If-None-Match", value: "*"))
        case .matching(let etag): headers.append((name: "If-Match", value: etag))
        }
        let (status, _, body) = try await call("PUT", key, body: bytes, extraHeaders: headers, payloadHash: Hex.encode(digest),
                                               limit: 64 * 1024, direction: .write, deadline: deadline)
        switch status {
        case 200, 201, 204: return
        // 409: a concurrent conditional write won (AWS asks for a retry; ours is already there).
        case 412, 409: throw .conditionFailed
        default: throw Self.failure("PUT", status, body)
        }
    }

    /// Stops the HTTP clients.
    public func shutdown() async {
        await reads.shutdown()
        await writes.shutdown()
    }

    private func call(_ method: String, _ key: String, body: [UInt8], extraHeaders: [(name: String, value: String)],
                      payloadHash: String = SigV4.emptyPayloadHash, limit: Int, direction: ObjectStoreDirection,
                      deadline: NIODeadline) async throws(ObjectStoreError) -> (Int, HTTPHeaders, [UInt8]) {
        let path = "/" + location.bucket + "/" + key
        var headers = extraHeaders + [(name: "host", value: host)]
        if let credentials = location.credentials {
            headers = SigV4.signedHeaders(method: method, path: path, query: [], headers: headers, payloadHash: payloadHash,
                                          credentials: credentials, region: location.region,
                                          time: Int(Date.now.timeIntervalSince1970))
        }
        var request = HTTPClientRequest(url: origin + SigV4.uriEncode(path, keepSlash: true))
        request.method = HTTPMethod(rawValue: method)
        for header in headers where header.name != "host" { request.headers.add(name: header.name, value: header.value) }
        if method == "PUT" { request.body = .bytes(ByteBuffer(bytes: body)) }
        let client = (direction == .read ? reads : writes).client
        let outcome = await Deadline.race(deadline, on: client.eventLoopGroup.next()) { [request] () throws -> (Int, HTTPHeaders, [UInt8]) in
            let response = try await client.execute(request, deadline: deadline)
            let collected = try await response.body.collect(upTo: limit)
            return (Int(response.status.code), response.headers, Array(buffer: collected))
        }
        switch outcome {
        case .success(let answer):
            return answer
        case .failure(let error) where error is NIOTooManyBytesError:
            throw .tooLarge("\(method) \(key): larger than \(limit) bytes")
        case .failure(let error) where NIODeadline.now() < deadline:
            throw .unavailable("\(method) \(key): \(error)")
        case .failure, nil:
            throw .unavailable("\(method) \(key): no answer in time")
        }
    }

    /// A status the call did not expect: a 5xx is the bucket failing, any other the bucket refusing.
    private static func failure(_ method: String, _ status: Int, _ body: [UInt8]) -> ObjectStoreError {
        let why = "\(method) answered \(status)" + (S3XML.errorDocument(body).code.map { " \($0)" } ?? "")
        return status >= 500 ? .unavailable(why) : .refused(why)
    }
}

/// An HTTP client made on first use, whose connections open within `silence`
/// and are closed when they stay silent that long mid-answer.
private final class LazyHTTPClient: Sendable {
    private let http = Mutex<HTTPClient?>(nil)
    private let silence: TimeAmount
    private let connections: Int

    init(silence: TimeAmount, connections: Int) {
        self.silence = silence
        self.connections = connections
    }

    var client: HTTPClient {
        http.withLock { client in
            if let client { return client }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.timeout.connect = silence
            configuration.timeout.read = silence
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            client = made
            return made
        }
    }

    func shutdown() async {
        let client = http.withLock { client in defer { client = nil }; return client }
        try? await client?.shutdown()
    }
}
