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
/// only the last non-blank line matters, so only it is kept, and the first
/// line `errorLine` reads as a failure.
struct NDJSONScanner {
    /// The failure a line reports, when it is an error line; nil: lines report none.
    var errorLine: (@Sendable (ArraySlice<UInt8>) -> String?)?
    /// The failure the first error line reported.
    private(set) var failure: String?
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
            if failure == nil, let errorLine { failure = errorLine(line[..<end]) }
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

/// How an upstream says that an answer it began with a 2xx head failed on
/// the way: the answer is then a failure (EIO), never stored.
public struct StreamFailureSignal: Sendable {
    /// A trailer whose non-empty value is the failure.
    public var trailer: String?
    /// The failure an NDJSON line reports, when it is an error line.
    public var errorLine: (@Sendable (ArraySlice<UInt8>) -> String?)?

    /// go-ipfs-cmds, Kubo's RPC API: a command that fails part-way sets the
    /// trailer `X-Stream-Error`, and its stream may carry a line
    /// `{"Message": ..., "Code": ..., "Type": "error"}`.
    public static let goIPFSCmds = StreamFailureSignal(trailer: "X-Stream-Error") { line in
        // Parsed only when it could be one: most lines are routing events or pins.
        guard line.count < 64 * 1024, line.first == UInt8(ascii: "{"),
              line.firstRange(of: Array(#""error""#.utf8)) != nil,
              let object = WireFormat.json(Array(line))?.objectValue, object["Type"]?.stringValue == "error" else { return nil }
        return object["Message"]?.stringValue ?? "(no message)"
    }

    /// The failure `trailers` report, if any.
    func failure(in trailers: [(name: String, value: String)]) -> String? {
        guard let trailer, let value = HTTPHeader.value(trailer, in: trailers),
              value.contains(where: { !$0.isWhitespace }) else { return nil }
        return value
    }
}
