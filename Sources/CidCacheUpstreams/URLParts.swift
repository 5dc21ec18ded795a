import Foundation

/// A URL split into what the families need: scheme, authority, path.
struct URLParts {
    var scheme: String
    /// `host[:port]` as written.
    var authority: String
    /// The path without a trailing slash ("" for none).
    var path: String

    init?(_ url: String) {
        guard let range = url.range(of: "://") else { return nil }
        scheme = url[..<range.lowerBound].lowercased()
        let rest = url[range.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        authority = String(rest[..<end])
        var tail = String(rest[end...])
        if let cut = tail.firstIndex(where: { $0 == "?" || $0 == "#" }) { tail = String(tail[..<cut]) }
        while tail.hasSuffix("/") { tail.removeLast() }
        path = tail
        if authority.isEmpty { return nil }
    }

    var origin: String { scheme + "://" + authority }

    /// The Host header a client sends: the authority without a default port.
    var hostHeader: String {
        let lower = authority.lowercased()
        if scheme == "http", lower.hasSuffix(":80") { return String(lower.dropLast(3)) }
        if scheme == "https", lower.hasSuffix(":443") { return String(lower.dropLast(4)) }
        return lower
    }
}
