import CidCacheCore

/// A `text/event-stream` body (server-sent events, as the WHATWG HTML standard
/// frames them) split into its events. Lines end with LF, CRLF or CR; a blank
/// line dispatches the event; lines starting with `:` are comments.
struct ServerSentEvents {
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

    /// The events, in order; the last one may be undispatched.
    private(set) var events: [Event] = []
    /// Whether the body ends inside a line (bytes after the last line break).
    private(set) var endsMidLine = false

    init(_ body: [UInt8]) {
        var start = 0
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        var current = Event()
        var lineStart = start
        var index = start
        while index < body.count {
            let byte = body[index]
            guard byte == 0x0A || byte == 0x0D else { index += 1; continue }
            consume(line: body[lineStart..<index], into: &current)
            index += (byte == 0x0D && index + 1 < body.count && body[index + 1] == 0x0A) ? 2 : 1
            lineStart = index
        }
        endsMidLine = lineStart < body.count
        if current.name != nil || !current.dataLines.isEmpty { events.append(current) }
    }

    private mutating func consume(line: ArraySlice<UInt8>, into current: inout Event) {
        if line.isEmpty {
            if !current.dataLines.isEmpty {
                current.isDispatched = true
                events.append(current)
            }
            current = Event()
            return
        }
        if line.first == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let field = String(decoding: line[..<(colon ?? line.endIndex)], as: UTF8.self)
        var value = colon.map { line[line.index(after: $0)...] } ?? []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch field {
        case "event": current.name = String(decoding: value, as: UTF8.self)
        case "data": current.dataLines.append(String(decoding: value, as: UTF8.self))
        default: break
        }
    }

    /// Whether the stream ended with `data: [DONE]` (OpenAI and the servers
    /// that speak its API), on a complete line with nothing after it.
    var endsWithDone: Bool {
        !endsMidLine && events.last?.data == "[DONE]"
    }

    /// The JSON objects the events carry, in order (`[DONE]` and non-JSON data skipped).
    var objects: [JSONObject] {
        events.compactMap { $0.json?.objectValue }
    }
}

/// Newline-delimited JSON (Ollama's streamed answers): one JSON value a line.
enum NDJSON {
    /// The last non-blank line, parsed; nil when it is not a complete JSON object.
    static func lastObject(_ body: [UInt8]) -> JSONObject? {
        var end = body.count
        while end > 0, isSpace(body[end - 1]) { end -= 1 }
        guard end > 0 else { return nil }
        var start = end
        while start > 0, body[start - 1] != 0x0A { start -= 1 }
        return WireFormat.json(Array(body[start..<end]))?.objectValue
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
