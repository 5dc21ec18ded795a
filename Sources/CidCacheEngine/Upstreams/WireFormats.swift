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

/// Small pieces the families share.
enum WireFormat {
    /// `bytes` parsed as one JSON value, or nil.
    static func json(_ bytes: [UInt8]) -> JSON? {
        try? CanonicalJSON.parse(bytes)
    }

    /// Whether the body is one complete JSON value (an answer that was not streamed).
    static func isWholeJSON(_ bytes: [UInt8]) -> Bool {
        json(bytes) != nil
    }

    /// The `Content-Type` header every JSON call sends.
    static let jsonContentType = (name: "Content-Type", value: "application/json")

    /// `Authorization: Bearer KEY` when a credential is configured.
    static func bearer(_ credential: String?) -> [(name: String, value: String)] {
        credential.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? []
    }

    /// A value as one URL path segment: RFC 3986 unreserved characters kept,
    /// everything else percent-encoded. Empty, `.` and `..` are refused (EINVAL).
    static func pathSegment(_ value: String, field: String) throws -> String {
        guard !value.isEmpty, value != ".", value != ".." else {
            throw CacheError(.invalidRequest, "\"\(field)\" must name something")
        }
        var encoded = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                encoded += "%\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
            }
        }
        return encoded
    }

    /// Refuses a request that lacks one of `fields` (EINVAL).
    static func require(_ fields: [String], in request: JSONObject, op: String) throws {
        for field in fields where request[field] == nil {
            throw CacheError(.invalidRequest, "\(op) requires the field \"\(field)\"")
        }
    }

    /// Refuses a request whose `model` is absent or not a string (EINVAL).
    @discardableResult
    static func requireModel(_ request: JSONObject, op: String) throws -> String {
        guard let value = request["model"] else {
            throw CacheError(.invalidRequest, "\(op) requires the field \"model\"")
        }
        guard let model = value.stringValue else {
            throw CacheError(.invalidRequest, "\"model\" must be a string")
        }
        return model
    }

    /// Whether the request's `stream` member is `true`.
    static func asksForStream(_ request: JSONObject) -> Bool {
        request["stream"]?.boolValue == true
    }

    /// OpenAI's `usage` object: `prompt_tokens` and `completion_tokens`.
    static func openAIUsage(_ usage: JSONObject, model: String?) -> TokenUsage {
        TokenUsage(model: model,
                   inputTokens: usage["prompt_tokens"]?.intValue ?? 0,
                   outputTokens: usage["completion_tokens"]?.intValue ?? 0)
    }

    /// The usage of an OpenAI-style answer: the `usage` of a whole JSON answer,
    /// or of a stream the last non-null `usage` any chunk carried (the final
    /// chunk, when the request set `stream_options.include_usage`).
    static func openAIUsage(response: [UInt8], model: String?) -> TokenUsage? {
        if let whole = json(response) {
            return whole["usage"]?.objectValue.map { openAIUsage($0, model: model) }
        }
        let usage = ServerSentEvents(response).objects.compactMap { $0["usage"]?.objectValue }.last
        return usage.map { openAIUsage($0, model: model) }
    }

    /// Whether an OpenAI-style answer is complete: a whole JSON answer, or an
    /// event stream that ended with `data: [DONE]`.
    static func isCompleteOpenAIStream(_ body: [UInt8]) -> Bool {
        isWholeJSON(body) || ServerSentEvents(body).endsWithDone
    }
}
