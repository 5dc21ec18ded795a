import CidCacheCore

/// The path of a route under a namespace's base URL, as segments that are
/// literal or that name a request member: `/api/models/{repo_id+}/revision/{revision}`,
/// `/v1beta/models/{model}:generateContent`.
struct RoutePattern: Sendable, Equatable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        /// One segment, percent-decoded, up to a literal ending (`{model}:generateContent`).
        case parameter(String, suffix: String)
        /// A repository id: one segment or two (`name`, `namespace/name`).
        case repository(String)
        /// One segment or more, to the end of the path (a folder in a repository).
        case remainder(String)
    }

    let segments: [Segment]

    /// `{name}` is a parameter (`{name}text`: one ending in `text`), `{name+}`
    /// a repository id, `{name*}` the remainder.
    init(_ text: String) {
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
    func match(_ path: String) -> [(name: String, value: String)]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: \.isEmpty) else {
            return segments.isEmpty && (path.isEmpty || path == "/") ? [] : nil
        }
        let decoded = parts.compactMap { PercentDecoding.decode($0, plusIsSpace: false) }
        guard decoded.count == parts.count else { return nil }
        return Self.match(segments[...], decoded[...])
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

/// RFC 3986 percent-decoding (and, in a query, `+` as a space).
enum PercentDecoding {
    /// The text `encoded` stands for; nil when a `%` is not followed by two
    /// hex digits or the bytes are not UTF-8.
    static func decode(_ encoded: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        var input = encoded.utf8[...]
        while let byte = input.popFirst() {
            switch byte {
            case UInt8(ascii: "%"):
                guard input.count >= 2, let high = hexValue(input.removeFirst()), let low = hexValue(input.removeFirst()) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
