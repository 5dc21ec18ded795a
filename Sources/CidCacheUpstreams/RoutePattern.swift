import CidCacheCore

/// The path of a route under a namespace's base URL, as segments that are
/// literal or that name a request member: `/api/models/{repo_id+}/revision/{revision}`,
/// `/v1beta/models/{model}:generateContent`. The same pattern builds an
/// operation's upstream path from the members and matches the HTTP front's
/// paths back into them.
public struct RoutePattern: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        /// One segment, percent-decoded, up to a literal ending (`{model}:generateContent`).
        case parameter(String, suffix: String)
        /// A repository id: one segment or two (`name`, `namespace/name`).
        case repository(String)
        /// One segment or more, to the end of the path (a folder in a repository).
        case remainder(String)
    }

    public let segments: [Segment]

    /// `{name}` is a parameter (`{name}text`: one ending in `text`), `{name+}`
    /// a repository id, `{name*}` the remainder.
    public init(_ text: String) {
        segments = text.split(separator: "/").map { part in
            guard part.hasPrefix("{"), let close = part.firstIndex(of: "}") else { return .literal(String(part)) }
            let name = part[part.index(after: part.startIndex)..<close]
            let suffix = String(part[part.index(after: close)...])
            if name.hasSuffix("+") { return .repository(String(name.dropLast())) }
            if name.hasSuffix("*") { return .remainder(String(name.dropLast())) }
            return .parameter(String(name), suffix: suffix)
        }
    }

    /// The members a path gives, in pattern order, when it matches; nil when
    /// it does not (or a segment is empty or not valid percent-encoding).
    public func match(_ path: String) -> [(name: String, value: String)]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: \.isEmpty) else {
            return segments.isEmpty && (path.isEmpty || path == "/") ? [] : nil
        }
        let decoded = parts.compactMap { PercentEncoding.decode($0, plusIsSpace: false) }
        guard decoded.count == parts.count else { return nil }
        return Self.match(segments[...], decoded[...])
    }

    /// The names of the members the path holds, in order.
    public var memberNames: [String] {
        segments.compactMap { segment in
            switch segment {
            case .literal: return nil
            case .parameter(let name, _), .repository(let name), .remainder(let name): return name
            }
        }
    }

    /// The path `members` make: a parameter's value percent-encoded as one
    /// segment, a repository id as one or two, the remainder as one segment
    /// (its slashes encoded). EINVAL, naming the member, when one is missing,
    /// empty, `.` or `..`.
    public func path(_ members: [String: String]) throws -> String {
        var path = ""
        for segment in segments {
            switch segment {
            case .literal(let text): path += "/" + text
            case .parameter(let name, let suffix): path += "/" + (try Self.segment(members, name)) + suffix
            case .remainder(let name): path += "/" + (try Self.segment(members, name))
            case .repository(let name):
                guard let id = members[name] else { throw Self.missing(name) }
                path += "/" + (try RESTCall.repositoryPath(id, field: name))
            }
        }
        return path
    }

    private static func segment(_ members: [String: String], _ name: String) throws -> String {
        guard let value = members[name] else { throw missing(name) }
        return try WireFormat.pathSegment(value, field: name)
    }

    private static func missing(_ name: String) -> CacheError {
        CacheError(.invalidRequest, "the request lacks \"\(name)\"")
    }

    private static func match(_ pattern: ArraySlice<Segment>, _ parts: ArraySlice<String>) -> [(name: String, value: String)]? {
        guard let first = pattern.first else { return parts.isEmpty ? [] : nil }
        let rest = pattern.dropFirst()
        switch first {
        case .literal(let text):
            guard parts.first == text else { return nil }
            return match(rest, parts.dropFirst())
        case .parameter(let name, let suffix):
            guard let part = parts.first, part.count > suffix.count, part.hasSuffix(suffix),
                  let tail = match(rest, parts.dropFirst()) else { return nil }
            return [(name, String(part.dropLast(suffix.count)))] + tail
        case .repository(let name):
            for count in 1...2 where parts.count >= count {
                if let tail = match(rest, parts.dropFirst(count)) {
                    return [(name, parts.prefix(count).joined(separator: "/"))] + tail
                }
            }
            return nil
        case .remainder(let name):
            guard rest.isEmpty, !parts.isEmpty else { return nil }
            return [(name, parts.joined(separator: "/"))]
        }
    }
}
