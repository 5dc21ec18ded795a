import CidCacheCore
import CidCacheUpstreams
import Foundation
import NIOCore
import Synchronization

/// Calls upstreams for the engine: every call within its namespace's limits
/// (queued, never refused), retried while it looks transient, its failures
/// counted and scrubbed of anything credential-like the upstream echoed.
final class UpstreamCaller: Sendable {
    let client: UpstreamClient
    private let limiters: [String: UpstreamLimiter]
    private let config: CacheConfig
    private let statistics: Statistics

    init(config: CacheConfig, namespaces: [Namespace], statistics: Statistics) {
        self.config = config
        self.statistics = statistics
        client = UpstreamClient(bounds: UpstreamBounds(config), responseLimitBytes: config.responseLimitBytes)
        limiters = Dictionary(uniqueKeysWithValues: namespaces.map { namespace in
            let limits = config.limits(for: namespace.name)
            return (namespace.name, UpstreamLimiter(concurrent: limits.concurrent, perMinute: limits.perMinute))
        })
    }

    /// Calls the upstream and returns once its answer starts; the body then
    /// fills in the background, read once as it arrives. A whole answer (one
    /// whose framing completed, asked to stream or not, with no failure
    /// reported on the way) is handed to `whole`, with its usage and the time
    /// the call was sent, before the body ends, and the CID `whole` returns
    /// finishes the body; error answers never are.
    func fetch(_ query: PreparedQuery, whole: @escaping @Sendable (WholeAnswer) -> CID?) async throws -> FetchedAnswer {
        let ns = query.namespace
        if ns.family.requiresCredential && ns.endpoint.credential == nil {
            throw CacheError(.accessDenied, "no credential configured for namespace \(ns.name)")
        }
        let sent = Moment.now
        let call = OperationCall(request: query.request, body: query.upstreamBody, endpoint: ns.endpoint)
        let bytes: [UInt8]
        switch query.operation.transport {
        case .http(let build):
            var request = try build(call)
            request.streamed = query.operation.streams(query.request)
            let response = try await counting(ns) { try await self.send(request, query) }
            return stream(response, query, sent: sent, whole: whole)
        case .fetch(let fetch, let retriesFailures):
            bytes = try await fetched(query, retriesFailures: retriesFailures) { try await fetch(call, self.client) }
        case .paged(let first, let read):
            bytes = try await fetched(query, retriesFailures: true) { try await read(try first(call), call, self.client) }
        case .local(let compute):
            // Computed here (S3's presigned URLs): no call, so no place in the upstream's limits.
            bytes = try await counting(ns) { try compute(call) }
        }
        let body = ResponseBody()
        body.append(bytes)
        let usage = AnswerReader.read(bytes, of: query.operation, request: query.request).usage
        body.finish(contentCID: whole(WholeAnswer(bytes: bytes, usage: usage, sent: sent, contentType: nil)))
        return FetchedAnswer(body: body, contentType: nil)
    }

    /// A whole answer the operation fetched itself, within the namespace's
    /// limits, repeated while `retriesFailures` and its failure looks transient.
    private func fetched(_ query: PreparedQuery, retriesFailures: Bool,
                         _ fetch: @escaping @Sendable () async throws -> [UInt8]) async throws -> [UInt8] {
        try await counting(query.namespace) {
            try await self.withinLimits(query) {
                do {
                    return .done(try await fetch())
                } catch let error as CacheError where retriesFailures && Self.isTransient(error) {
                    return .retry(error, after: nil)
                }
            }
        }
    }

    /// The body of a 2xx answer, filled in the background and read as it arrives.
    private func stream(_ response: UpstreamResponse, _ query: PreparedQuery, sent: Moment,
                        whole: @escaping @Sendable (WholeAnswer) -> CID?) -> FetchedAnswer {
        let ns = query.namespace
        let body = ResponseBody()
        let contentType = response.header("content-type")
        // Touched only by the response's one reading task, a chunk at a time, then at its end.
        let reader = Mutex(query.operation.answerReader())
        response.deliver({ chunk in
            reader.withLock { $0.consume(chunk.readableBytesView) }
            body.append(chunk.readableBytesView)
        }, end: { cutShort in
            // Any failure ends the body, and with it the flight.
            if let cutShort { return body.fail(self.failure(cutShort, ns)) }
            let bytes = body.received
            let answer = reader.withLock { $0.finish(body: bytes, request: query.request, trailers: response.trailers) }
            if let reported = answer.failure {
                return body.fail(self.failure(CacheError(.io, "the upstream's answer failed on the way: \(reported)"), ns))
            }
            // Asked to stream or not: an upstream may stream unasked.
            guard answer.isComplete else {
                return body.fail(self.failure(CacheError(.io, "the stream ended before its terminal event"), ns))
            }
            body.finish(contentCID: whole(WholeAnswer(bytes: bytes, usage: answer.usage, sent: sent, contentType: contentType)))
        })
        return FetchedAnswer(body: body, contentType: contentType)
    }

    /// One call that returns a 2xx answer whose body is still to come, retried
    /// while nothing was answered (connection failures) or the answer says
    /// "try again" (429, 5xx).
    private func send(_ request: UpstreamHTTPRequest, _ query: PreparedQuery) async throws -> UpstreamResponse {
        try await withinLimits(query) {
            do {
                let response = try await self.client.send(request)
                if (200..<300).contains(response.status) { return .done(response) }
                let bytes = (try? await response.collect()) ?? []
                let error = query.operation.failure(status: response.status, headers: response.headers, body: bytes)
                guard Self.retryableStatuses.contains(response.status) else { throw error }
                return .retry(error, after: response.header("retry-after").flatMap(Double.init))
            } catch let error as CacheError where Self.isTransient(error) {
                return .retry(error, after: nil)  // no answer at all (refused, reset): ask again
            }
        }
    }

    /// What one attempt at an upstream call came to.
    private enum Attempt<Value: Sendable>: Sendable {
        case done(Value)
        /// A failure worth asking again, after the upstream's Retry-After when it gave one.
        case retry(CacheError, after: Double?)
    }

    /// Runs attempts of one call, each within the namespace's limits, with
    /// exponential backoff between them, up to `upstream_retries` repeats and
    /// never past the upstream timeout.
    private func withinLimits<Value: Sendable>(_ query: PreparedQuery,
                                               _ attempt: @escaping @Sendable () async throws -> Attempt<Value>) async throws -> Value {
        let limiter = limiters[query.namespace.name]!
        let deadline = Deadline.after(seconds: config.upstreamTimeoutSeconds)
        var retries = 0
        while true {
            let failure: CacheError, retryAfter: Double?
            switch try await limiter.run(before: deadline, { try await attempt() }) {
            case .done(let value): return value
            case .retry(let error, let after): (failure, retryAfter) = (error, after)
            }
            guard let retryAt = Self.retryTime(after: retries, retryAfter: retryAfter, deadline: deadline, config: config) else {
                throw failure
            }
            try await Deadline.sleep(until: retryAt)
            retries += 1
        }
    }

    /// When to ask again after `retries` repeats: after the upstream's
    /// Retry-After, else an exponential backoff with jitter, 60 s at most; nil
    /// when the retries are spent or that time is not before `deadline`. All
    /// on the monotonic clock: setting the wall clock moves no retry.
    static func retryTime(after retries: Int, retryAfter: Double?, now: NIODeadline = .now(), deadline: NIODeadline,
                          config: CacheConfig, jitter: Double = .random(in: 0.75...1.25)) -> NIODeadline? {
        guard retries < config.upstreamRetries else { return nil }
        let backoff = Double(config.retryBackoffMilliseconds) / 1000 * Double(1 << retries) * jitter
        let retryAt = now + .nanoseconds(Int64(min(retryAfter ?? backoff, 60) * 1e9))
        return retryAt < deadline ? retryAt : nil
    }

    /// Answers worth asking again: rate limited, overloaded, or a server fault.
    static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504, 529]

    /// A failure worth asking again: one of those answers, or no answer at all.
    static func isTransient(_ error: CacheError) -> Bool {
        error.status.map(retryableStatuses.contains) ?? (error.kind == .io)
    }

    /// Runs a call, counting and scrubbing its failure.
    private func counting<Value>(_ ns: Namespace, _ call: () async throws -> Value) async throws -> Value {
        do {
            return try await call()
        } catch {
            throw failure(CacheError(wrapping: error), ns)
        }
    }

    /// Counts an upstream failure and scrubs what the upstream echoed: the
    /// message of credential-like fragments, the error answer of the credential itself.
    private func failure(_ error: CacheError, _ ns: Namespace) -> CacheError {
        statistics.update(ns.name) { $0.upstreamErrors += 1 }
        var scrubbed = error
        scrubbed.message = Self.scrub(error.message, endpoint: ns.endpoint)
        if let credential = ns.endpoint.credential, !credential.isEmpty, let answer = error.upstreamAnswer {
            let text = String(decoding: answer.body, as: UTF8.self)
            if text.contains(credential) {
                scrubbed.upstreamAnswer?.body = Array(text.replacingOccurrences(of: credential, with: "[redacted]").utf8)
            }
        }
        return scrubbed
    }

    /// One call passed through as it is: within the namespace's limits but
    /// never repeated (it may not be safe to ask twice), its answer whatever
    /// its status; a failure without an answer is counted and scrubbed.
    func passThrough(_ request: UpstreamHTTPRequest, _ ns: Namespace) async throws -> UpstreamResponse {
        let limiter = limiters[ns.name]!
        let deadline = Deadline.after(seconds: config.upstreamTimeoutSeconds)
        return try await counting(ns) { try await limiter.run(before: deadline) { try await self.client.send(request) } }
    }

    /// Removes credentials, every family's credential shapes and bearer tokens an upstream echoed.
    static func scrub(_ message: String, endpoint: Endpoint) -> String {
        var text = message
        if let key = endpoint.credential, !key.isEmpty {
            text = text.replacingOccurrences(of: key, with: "[redacted]")
        }
        for pattern in FamilyRegistry.credentialPatterns + [#"(?i)bearer\s+\S+"#] {
            text = text.replacingOccurrences(of: pattern, with: "[redacted]", options: .regularExpression)
        }
        return text
    }
}

extension UpstreamBounds {
    /// The bounds the config sets.
    init(_ config: CacheConfig) {
        self.init(timeout: config.upstreamTimeoutSeconds, idle: config.streamIdleTimeoutSeconds, streamMax: config.streamMaxSeconds)
    }
}

/// A fresh answer as it starts.
struct FetchedAnswer: Sendable {
    /// Its bytes, still arriving.
    let body: ResponseBody
    /// The `Content-Type` the upstream gave it; nil when the family fetched it whole itself.
    let contentType: String?
}

/// A whole fresh answer, ready to store.
struct WholeAnswer: Sendable {
    let bytes: [UInt8]
    /// The tokens and model it reports, read as it arrived.
    let usage: TokenUsage?
    /// When the call was sent.
    let sent: Moment
    /// The `Content-Type` the upstream gave it, stored with it; nil: none known.
    let contentType: String?
}
