import CidCacheEngine

/// What the front reads from a request's headers and which headers cross it.
enum HeaderRules {
    /// `Cache-Control: no-cache` or `max-age=0` asks for a refresh, `no-store`
    /// for a bypass (as the control object's `refresh` and `no_store`,
    /// docs/REFERENCE.md §6); without `Cache-Control`, `Pragma: no-cache` asks
    /// for a refresh too (RFC 9111 §5.2.1.1, §5.4).
    static func options(_ headers: [(name: String, value: String)], credential: String?) -> QueryOptions {
        let directives = headers.filter { $0.name.lowercased() == "cache-control" }
            .flatMap { $0.value.split(separator: ",") }
            .map { $0.filter { !$0.isWhitespace && $0 != "\"" }.lowercased() }
        let pragma = directives.isEmpty && headers.contains { header in
            header.name.lowercased() == "pragma"
                && header.value.split(separator: ",").contains { $0.filter { !$0.isWhitespace }.lowercased() == "no-cache" }
        }
        let refresh = pragma || directives.contains { $0 == "no-cache" || $0.hasPrefix("no-cache=") || $0 == "max-age=0" }
        return QueryOptions(refresh: refresh, noStore: directives.contains("no-store"), credential: credential)
    }

    /// Headers of one connection (RFC 9110 §7.6.1) or of its framing, which
    /// the client that makes the next hop sets itself. `accept-encoding` goes
    /// too, so answers come back as they are, never compressed for a client
    /// that did not ask this hop.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding",
    ]

    /// The headers that cross the front, in either direction.
    static func forwarded(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        headers.filter { !hopByHop.contains($0.name.lowercased()) }
    }
}
