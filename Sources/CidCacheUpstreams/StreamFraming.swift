import CidCacheCore

/// A `text/event-stream` body (server-sent events, as the WHATWG HTML standard
/// frames them) split into its events as its bytes arrive. Lines end with LF,
/// CRLF or CR; a blank line dispatches the event; lines starting with `:` are comments.
struct ServerSentEventScanner {
    struct Event {
        /// The `event:` field, when one was given.
        var name: String?
        /// The `data:` fields, in order.
        var dataLines: [String] = []
        /// Whether a blank line ended the event (otherwise the body ended first).
        var isDispatched = false

        /// The data as a client sees it: the `data:` lines joined by LF.
        var data: String { dataLines.joined(separator: "\n") }
        /// The data parsed as JSON, when it is JSON.
        var json: JSON? { WireFormat.json(Array(data.utf8)) }
    }

    private var line: [UInt8] = []
    private var afterCR = false
    private var isFirstLine = true
    private var current = Event()

    /// Reads a chunk and returns the events it dispatched.
    mutating func consume(_ chunk: some Collection<UInt8>) -> [Event] {
        var dispatched: [Event] = []
        var index = chunk.startIndex
        while index != chunk.endIndex {
            if afterCR {
                afterCR = false
                if chunk[index] == 0x0A { index = chunk.index(after: index); continue }
            }
            guard let end = chunk[index...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) else {
                line += chunk[index...]
                break
            }
            line += chunk[index..<end]
            afterCR = chunk[end] == 0x0D
            if let event = endLine() { dispatched.append(event) }
            index = chunk.index(after: end)
        }
        return dispatched
    }

    /// Whether the body ended inside a line (bytes after the last line break).
    var endsMidLine: Bool { !lineWithoutBOM.isEmpty }

    /// The event the body ended in before a blank line dispatched it, if any.
    var undispatched: Event? {
        current.name != nil || !current.dataLines.isEmpty ? current : nil
    }

    private var lineWithoutBOM: ArraySlice<UInt8> {
        isFirstLine && line.starts(with: [0xEF, 0xBB, 0xBF]) ? line.dropFirst(3) : line[...]
    }

    private mutating func endLine() -> Event? {
        let text = lineWithoutBOM
        defer { line.removeAll(keepingCapacity: true); isFirstLine = false }
        if text.isEmpty {
            defer { current = Event() }
            guard !current.dataLines.isEmpty else { return nil }
            current.isDispatched = true
            return current
        }
        if text.first == UInt8(ascii: ":") { return nil }
        let colon = text.firstIndex(of: UInt8(ascii: ":"))
        let field = String(decoding: text[..<(colon ?? text.endIndex)], as: UTF8.self)
        var value = colon.map { text[text.index(after: $0)...] } ?? []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch field {
        case "event": current.name = String(decoding: value, as: UTF8.self)
        case "data": current.dataLines.append(String(decoding: value, as: UTF8.self))
        default: break
        }
        return nil
    }
}

/// Newline-delimited JSON (Ollama's and Kubo's streams) as its bytes arrive:
/// only the last non-blank line matters, so only it is kept.
struct NDJSONScanner {
    private var line: [UInt8] = []
    private var lastLine: ArraySlice<UInt8>?
    /// Whether any byte other than white space arrived.
    private(set) var sawValue = false
    /// The last byte of the body.
    private(set) var lastByte: UInt8?

    mutating func consume(_ chunk: some BidirectionalCollection<UInt8>) {
        var index = chunk.startIndex
        while index != chunk.endIndex {
            guard let end = chunk[index...].firstIndex(of: 0x0A) else {
                line += chunk[index...]
                break
            }
            line += chunk[index..<end]
            endLine()
            index = chunk.index(after: end)
        }
        if let last = chunk.last { lastByte = last }
    }

    private mutating func endLine() {
        var end = line.endIndex
        while end > line.startIndex, Self.isSpace(line[end - 1]) { end -= 1 }
        if end > line.startIndex {
            lastLine = line[..<end]
            sawValue = true
        }
        line.removeAll()
    }

    /// The last non-blank line, parsed, once the body ended; nil when it is not a JSON object.
    mutating func lastObject() -> JSONObject? {
        if !line.isEmpty { endLine() }
        return lastLine.flatMap { WireFormat.json(Array($0))?.objectValue }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
