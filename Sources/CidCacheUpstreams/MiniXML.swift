import CidCacheCore

/// Just enough XML for S3's answers (ListBucketResult, Error): elements, text,
/// the five named entities and character references, CDATA; declarations,
/// comments and processing instructions are skipped and attributes ignored.
/// Element names lose any namespace prefix.
public struct MiniXMLElement: Sendable, Equatable {
    public var name: String
    public var children: [MiniXMLElement] = []
    /// The text directly inside the element (entities decoded).
    public var text: String = ""

    public init(name: String, children: [MiniXMLElement] = [], text: String = "") {
        self.name = name
        self.children = children
        self.text = text
    }

    /// The first child with this name.
    public func child(_ name: String) -> MiniXMLElement? { children.first { $0.name == name } }
    /// Every child with this name, in order.
    public func all(_ name: String) -> [MiniXMLElement] { children.filter { $0.name == name } }
    /// The text of the first child with this name.
    public func text(_ name: String) -> String? { child(name)?.text }

    /// Parses a document and returns its root element.
    public static func parse(_ bytes: [UInt8]) throws -> MiniXMLElement {
        var parser = MiniXMLParser(bytes: bytes)
        return try parser.document()
    }
}

private struct MiniXMLParser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ what: String) -> CacheError {
        CacheError(.io, "malformed XML from the upstream: \(what) at byte \(i)")
    }

    func starts(with text: String) -> Bool {
        let t = Array(text.utf8)
        return i + t.count <= bytes.count && Array(bytes[i..<i + t.count]) == t
    }

    mutating func skip(past text: String) throws {
        let t = Array(text.utf8)
        while i + t.count <= bytes.count {
            if Array(bytes[i..<i + t.count]) == t { i += t.count; return }
            i += 1
        }
        throw fail("unterminated \(text)")
    }

    mutating func skipMisc() throws {
        while i < bytes.count {
            if [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            else if starts(with: "<?") { try skip(past: "?>") }
            else if starts(with: "<!--") { try skip(past: "-->") }
            else if starts(with: "<!") { try skip(past: ">") }
            else { return }
        }
    }

    mutating func document() throws -> MiniXMLElement {
        if starts(with: "\u{FEFF}") { i += 3 }
        try skipMisc()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail("no root element") }
        return try element()
    }

    mutating func name() throws -> String {
        let start = i
        while i < bytes.count, !([0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">"), UInt8(ascii: "/")].contains(bytes[i])) { i += 1 }
        guard i > start else { throw fail("empty element name") }
        let full = String(decoding: bytes[start..<i], as: UTF8.self)
        if let colon = full.lastIndex(of: ":") { return String(full[full.index(after: colon)...]) }
        return full
    }

    /// Parses `<name ...>...</name>` with `i` on its `<`.
    mutating func element() throws -> MiniXMLElement {
        i += 1
        var node = MiniXMLElement(name: try name())
        // Attributes: skipped, quotes respected.
        var quote: UInt8?
        while i < bytes.count {
            let b = bytes[i]
            if let q = quote { if b == q { quote = nil } }
            else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") { quote = b }
            else if b == UInt8(ascii: ">") { break }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated start tag") }
        if bytes[i - 1] == UInt8(ascii: "/") { i += 1; return node }
        i += 1
        var text: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("unterminated element \(node.name)") }
            if bytes[i] != UInt8(ascii: "<") {
                if bytes[i] == UInt8(ascii: "&") { text += try entity() } else { text.append(bytes[i]); i += 1 }
            } else if starts(with: "</") {
                i += 2
                let closing = try name()
                guard closing == node.name else { throw fail("</\(closing)> closes <\(node.name)>") }
                try skip(past: ">")
                node.text = String(decoding: text, as: UTF8.self)
                return node
            } else if starts(with: "<![CDATA[") {
                i += 9
                let start = i
                try skip(past: "]]>")
                text += bytes[start..<i - 3]
            } else if starts(with: "<!--") {
                try skip(past: "-->")
            } else if starts(with: "<?") {
                try skip(past: "?>")
            } else {
                node.children.append(try element())
            }
        }
    }

    /// Decodes `&...;` with `i` on its `&`.
    mutating func entity() throws -> [UInt8] {
        guard let end = bytes[i...].firstIndex(of: UInt8(ascii: ";")), end - i <= 12 else { throw fail("bad entity") }
        let body = String(decoding: bytes[(i + 1)..<end], as: UTF8.self)
        i = end + 1
        switch body {
        case "amp": return Array("&".utf8)
        case "lt": return Array("<".utf8)
        case "gt": return Array(">".utf8)
        case "quot": return Array("\"".utf8)
        case "apos": return Array("'".utf8)
        default:
            var code: UInt32?
            if body.hasPrefix("#x") || body.hasPrefix("#X") { code = UInt32(body.dropFirst(2), radix: 16) }
            else if body.hasPrefix("#") { code = UInt32(body.dropFirst(), radix: 10) }
            guard let code, let scalar = Unicode.Scalar(code) else { throw fail("unknown entity &\(body);") }
            return Array(String(Character(scalar)).utf8)
        }
    }
}
