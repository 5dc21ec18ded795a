import CidCacheCore
import Foundation

/// Upstream calls: within limits, retried, their failures counted and scrubbed.
extension CacheEngine {
    /// One upstream call within the namespace's limits, retried while nothing
    /// was answered (connection failures) or the answer says "try again" (429, 5xx).
    /// Returns a 2xx answer whose body is still to come.
    func send(_ request: UpstreamHTTPRequest, _ query: PreparedQuery) async throws -> UpstreamResponse {
        try await withinLimits(query) {
            do {
                let response = try await self.client.send(request)
                if (200..<300).contains(response.status) { return .done(response) }
                let bytes = (try? await response.collect()) ?? []
                let family = query.namespace.family
                let error = (family as? ErrorMappingFamily)?.error(op: query.op, status: response.status,
                                                                   headers: response.headers, body: bytes)
                    ?? CacheError.forStatus(response.status, "upstream answered \(response.status): \(Self.errorMessage(bytes))")
                guard Self.retryableStatuses.contains(response.status) else { throw error }
                return .retry(error, after: response.header("retry-after").flatMap(Double.init))
            } catch let error as CacheError where Self.isTransient(error) {
                return .retry(error, after: nil)  // no answer at all (refused, reset): ask again
            }
        }
    }

    /// What one attempt at an upstream call came to.
    enum Attempt<Value> {
        case done(Value)
        /// A failure worth asking again, after the upstream's Retry-After when it gave one.
        case retry(CacheError, after: Double?)
    }

    /// Runs attempts of one upstream call, each within the namespace's
    /// concurrency and per-minute limits (queued, never refused), with
    /// exponential backoff between them, up to `upstream_retries` repeats and
    /// never past the upstream timeout.
    func withinLimits<Value: Sendable>(_ query: PreparedQuery,
                                               _ attempt: @escaping @Sendable () async throws -> Attempt<Value>) async throws -> Value {
        let limiter = limiters[query.namespace.name]!
        let deadline = Date().addingTimeInterval(config.upstreamTimeoutSeconds)
        var retries = 0
        while true {
            let failure: CacheError, retryAfter: Double?
            switch try await limiter.run({ try await attempt() }) {
            case .done(let value): return value
            case .retry(let error, let after): (failure, retryAfter) = (error, after)
            }
            guard retries < config.upstreamRetries else { throw failure }
            let backoff = Double(config.retryBackoffMilliseconds) / 1000 * Double(1 << retries) * Double.random(in: 0.75...1.25)
            let wait = min(retryAfter ?? backoff, 60)
            guard Date().addingTimeInterval(wait) < deadline else { throw failure }
            try await Task.sleep(nanoseconds: UInt64(wait * 1_000_000_000))
            retries += 1
        }
    }

    /// Answers worth asking again: rate limited, overloaded, or a server fault.
    static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504, 529]

    /// A failure worth asking again: one of those answers, or no answer at all.
    static func isTransient(_ error: CacheError) -> Bool {
        error.status.map(retryableStatuses.contains) ?? (error.kind == .io)
    }

    /// Counts an upstream failure and scrubs what the upstream echoed.
    func upstreamFailure(_ error: CacheError, _ ns: Namespace) -> CacheError {
        statistics.update(ns.name) { $0.upstreamErrors += 1 }
        return CacheError(error.kind, scrub(error.message, endpoint: ns.endpoint), status: error.status)
    }

    func offlineError() -> CacheError {
        CacheError(.offline, "offline mode and no live entry")
    }

    /// The most useful text of an upstream error body: its `error.message` when JSON, else a prefix.
    static func errorMessage(_ body: [UInt8]) -> String {
        if let object = (try? CanonicalJSON.parse(body))?.objectValue {
            if let message = object["error"]?.objectValue?["message"]?.stringValue { return message }
            if let message = object["error"]?.stringValue ?? object["message"]?.stringValue { return message }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
    }

    /// Removes credentials and credential-looking fragments an upstream echoed.
    func scrub(_ message: String, endpoint: Endpoint) -> String {
        var text = message
        if let key = endpoint.credential, !key.isEmpty {
            text = text.replacingOccurrences(of: key, with: "[redacted]")
        }
        let patterns = [#"(sk|pk|rk|gsk|hf|ghp|gho|ghs|github_pat|xai)[-_][A-Za-z0-9_\-\*\.]{4,}"#,
                        #"AIza[A-Za-z0-9_\-]{20,}"#,  // Google API keys: "AIza" and 35 more, no separator
                        #"(?i)bearer\s+\S+"#, #"AKIA[0-9A-Z]{8,}"#]
        for pattern in patterns {
            text = text.replacingOccurrences(of: pattern, with: "[redacted]", options: .regularExpression)
        }
        return text
    }
}
