public import CidCacheCore

/// Where the HTTP front listens: `HOST:PORT` on a loopback address only
/// (`127.0.0.0/8`, `::1` written `[::1]:PORT`, `localhost`), since the front
/// has no authentication of its own: anyone who reaches it spends the
/// configured credentials.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host as the server binds it (an IPv6 address without brackets).
    public let host: String
    public let port: Int

    /// Parses `HOST:PORT`; EINVAL for anything malformed or not loopback, with a message saying why.
    public init(parsing text: String) throws(CacheError) {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Self.malformed(text) }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { throw Self.malformed(text) }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portPart), (1...65_535).contains(port) else {
            throw Self.malformed(text)
        }
        guard Self.isLoopback(hostPart) else {
            throw CacheError(.invalidRequest, "refusing to listen on \(text): the HTTP front has no authentication yet, "
                             + "so it listens on loopback addresses only (127.0.0.1, [::1], localhost)")
        }
        host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `localhost`, `::1`, or a dotted IPv4 address in 127.0.0.0/8.
    static func isLoopback(_ host: Substring) -> Bool {
        if host.lowercased() == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4,
              octets.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } && UInt8($0) != nil }) else {
            return false
        }
        return octets[0] == "127"
    }

    private static func malformed(_ text: String) -> CacheError {
        CacheError(.invalidRequest, "\"\(text)\" is not a listen address: write HOST:PORT, e.g. 127.0.0.1:8421")
    }
}
