public import CidCacheCore
import CidCacheUpstreams
import Foundation
import NIOCore

/// A call that no operation stands for, passed to a namespace's upstream as
/// it is (the HTTP front's unmapped routes).
public struct PassThroughRequest: Sendable {
    public var method: String
    /// The path under the namespace's base URL, with its query (`/models?limit=2`).
    public var target: String
    /// The caller's headers, meant for the upstream (the front drops the hop-by-hop ones).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?

    public init(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8]?) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }
}

/// The upstream's answer to a passed-through call, whatever its status.
public struct PassThroughAnswer: Sendable {
    public let status: Int
    public let headers: [(name: String, value: String)]
    /// The bytes as they arrive; cut short (failed) when the upstream stops mid-way.
    public let body: ResponseBody
    /// The trailers that followed the body (Kubo's `X-Stream-Error`), once it has ended; empty before.
    public let trailers: @Sendable () -> [(name: String, value: String)]
}

extension CacheEngine {
    /// A request the HTTP front refused before anything else happened (its
    /// host, origin, content type, pass-through policy, or a loop): an
    /// `errors` line, and `http_refused` counted for its namespace when it named one.
    public func recordRefusal(namespace name: String?, _ error: CacheError) {
        let known = name.flatMap { namespaces[$0] == nil ? nil : $0 }
        if let known { statistics.update(known) { $0.httpRefused += 1 } }
        log.recordError(namespace: known, op: nil, requestCID: nil, error: error, pid: 0)
    }

    /// Passes a call to a namespace's upstream uncached, counted as `bypassed`:
    /// the caller's method, path, headers and body, with the namespace's
    /// configured credential added when the caller sent none in a header the
    /// family takes one in. Runs within the namespace's limits, is never
    /// retried, and follows redirects as every call does (a credential never
    /// reaches another origin). Returns once the answer's head has arrived.
    /// Fails (with an `errors` line, op null) only when no answer came:
    /// unknown namespace (ENOENT), offline (ENETUNREACH), the network (EIO, ETIMEDOUT).
    public func passThrough(namespace name: String, _ call: PassThroughRequest) async throws(CacheError) -> PassThroughAnswer {
        do {
            guard let namespace = namespaces[name] else { throw CacheError(.notFound, "unknown namespace \"\(name)\"") }
            guard !config.offline else { throw CacheError(.offline, "offline mode: \(call.method) passed through to \(name) needs the upstream") }
            var headers = call.headers
            if namespace.callerCredential(in: headers) == nil, let carrier = namespace.family.credentialHeader,
               let credential = namespace.endpoint.credential {
                headers.removeAll { $0.name.lowercased() == carrier.name.lowercased() }
                headers.append(carrier.header(for: credential))
            }
            var request = UpstreamHTTPRequest(method: call.method, url: namespace.endpoint.url(call.target),
                                              headers: headers, body: call.body)
            // Any answer may be a long stream: bounded by idleness, as streams are.
            request.streamed = true
            let response = try await upstream.passThrough(request, namespace)
            statistics.update(name) { $0.bypassed += 1 }
            let body = ResponseBody()
            response.deliver({ body.append($0.readableBytesView) }, end: { cutShort in
                if let cutShort { body.fail(cutShort) } else { body.finish() }
            })
            return PassThroughAnswer(status: response.status, headers: response.headers, body: body,
                                     trailers: { response.trailers })
        } catch {
            let failure = CacheError(wrapping: error)
            log.recordError(namespace: namespaces[name] == nil ? nil : name, op: nil, requestCID: nil,
                            error: CacheError(failure.kind, "\(call.method) passed through: \(failure.message)", status: failure.status),
                            pid: 0)
            throw failure
        }
    }
}
