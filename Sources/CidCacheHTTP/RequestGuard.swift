import CidCacheCore
import CidCacheEngine
import Foundation

/// The HTTP front's door: what a request must be to get in, decided from its
/// facts alone before anything is routed to the engine. A web page the user
/// opens can send requests to a loopback server (cross-site forms, `fetch`
/// without a preflight, DNS rebinding), so the front answers loopback hosts
/// and origins only, unless the config allows more; JSON operations take JSON
/// only; and the configured credential is spent on reads only unless the
/// namespace says otherwise.
struct RequestGuard: Sendable {
    /// Host names allowed besides loopback ones (`http.allowed_hosts`), lower-cased.
    let allowedHosts: Set<String>
    /// Origins allowed besides loopback ones (`http.allowed_origins`), lower-cased.
    let allowedOrigins: Set<String>

    /// What the door looks at.
    struct Facts {
        var method: String
        /// The `Host` (HTTP/1.1) or `:authority`; nil when the request has none.
        var host: String?
        var origin: String?
        var secFetchSite: String?
        var contentType: String?
        /// A preflight's `Access-Control-Request-Headers`.
        var requestedHeaders: String?
        /// Whether the request carries this process's own `x-cidcache-hop` mark.
        var cameBack: Bool
        /// Whether the request is an operation whose body is its query request.
        var takesJSONBody: Bool
        /// Set when the request is to be passed through.
        var passThrough: PassThrough?
    }

    /// A request to be passed through under a namespace.
    struct PassThrough {
        var namespace: String
        var policy: PassThroughPolicy
        /// Whether the namespace's configured credential would be added (the caller sent none of its own).
        var usesConfiguredCredential: Bool
    }

    enum Verdict {
        /// Let in; the answer gets `cors` (for an allowed origin; else none).
        case admit(cors: [(name: String, value: String)])
        /// A CORS preflight of an allowed origin: answered at once with these headers.
        case preflight([(name: String, value: String)])
        /// Turned away with this status; the error says why (and goes to `errors`).
        case refuse(status: Int, CacheError)
    }

    /// The methods a preflight allows.
    static let allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
    /// The front's own headers a page may read.
    static let exposedHeaders = "x-cidcache, x-cidcache-request-cid, x-cidcache-cid, x-cidcache-sample"

    func verdict(_ facts: Facts) -> Verdict {
        if facts.cameBack {
            return .refuse(status: 508, CacheError(.io, "loop detected: this request came back to the daemon that sent it "
                + "(its own x-cidcache-hop mark): a namespace's upstream leads to this HTTP front; point it at the real upstream"))
        }
        if let host = facts.host, !isAllowed(host: host) {
            return .refuse(status: 403, CacheError(.accessDenied, "refused a request for host \"\(host)\": the HTTP front "
                + "answers loopback hosts (127.0.0.1, [::1], localhost) and the names in the config's http.allowed_hosts only"))
        }
        if let origin = facts.origin, !isAllowed(origin: origin) {
            return .refuse(status: 403, CacheError(.accessDenied, "refused a request from origin \"\(origin)\": web pages may "
                + "call the HTTP front from loopback origins (http://localhost:3000) and those in the config's http.allowed_origins only"))
        }
        if facts.origin == nil, facts.secFetchSite?.lowercased() == "cross-site" {
            return .refuse(status: 403, CacheError(.accessDenied, "refused a cross-site request (Sec-Fetch-Site: cross-site) "
                + "without an origin: web pages may call the HTTP front from the origins in the config's http.allowed_origins only"))
        }
        let cors = facts.origin.map { origin -> [(name: String, value: String)] in
            [("access-control-allow-origin", origin), ("vary", "Origin")]
        } ?? []
        if facts.method == "OPTIONS", !cors.isEmpty {
            return .preflight(cors + [("access-control-allow-methods", Self.allowedMethods),
                                      ("access-control-allow-headers", facts.requestedHeaders ?? "authorization, content-type"),
                                      ("access-control-max-age", "600")])
        }
        if facts.takesJSONBody, let type = facts.contentType, !Self.isJSON(type) {
            return .refuse(status: 415, CacheError(.invalidRequest, "refused a body of Content-Type \"\(type)\": "
                + "this operation takes JSON (Content-Type: application/json)"))
        }
        if let passing = facts.passThrough, let refusal = refusal(passing, method: facts.method) {
            return .refuse(status: 403, refusal)
        }
        return .admit(cors: cors.isEmpty ? [] : cors + [("access-control-expose-headers", Self.exposedHeaders)])
    }

    /// Why a pass-through may not go, if it may not.
    private func refusal(_ passing: PassThrough, method: String) -> CacheError? {
        switch passing.policy {
        case .all: return nil
        case .none:
            return CacheError(.accessDenied, "pass-through is off for namespace \"\(passing.namespace)\" "
                + "(its config's namespaces.\(passing.namespace).pass_through is \"none\"): only its operations are served")
        case .configuredForReads:
            guard passing.usesConfiguredCredential, method != "GET", method != "HEAD" else { return nil }
            return CacheError(.accessDenied, "refused \(method) passed through with the configured credential of namespace "
                + "\"\(passing.namespace)\": it is spent on GET and HEAD only; send your own credential header, "
                + "or set namespaces.\(passing.namespace).pass_through to \"all\" in the config")
        }
    }

    /// A loopback host (`127.0.0.0/8`, `[::1]`, `localhost`) or an allowed name, with or without a port.
    func isAllowed(host: String) -> Bool {
        let name = Self.hostName(of: host[...])
        return ListenAddress.isLoopback(name) || allowedHosts.contains(name.lowercased())
    }

    /// An origin whose host is loopback (any scheme and port), or an allowed one.
    func isAllowed(origin: String) -> Bool {
        let lowered = origin.lowercased()
        if allowedOrigins.contains(lowered) { return true }
        guard let separator = lowered.range(of: "://") else { return false }
        let authority = lowered[separator.upperBound...]
        return !authority.contains("/") && ListenAddress.isLoopback(Self.hostName(of: authority))
    }

    /// The host of `host[:port]` or `[v6]:port`, without brackets or port.
    static func hostName(of authority: Substring) -> Substring {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return authority[authority.index(after: authority.startIndex)..<close]
        }
        return authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? authority
    }

    /// `application/json` or any `+json` type (`application/vnd.api+json`), parameters allowed.
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.filter { !$0.isWhitespace }.lowercased() } ?? ""
        return media == "application/json" || media.hasSuffix("+json")
    }
}
