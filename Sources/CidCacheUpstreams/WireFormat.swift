import CidCacheCore

/// Small pieces the families share.
public enum WireFormat {
    /// `bytes` parsed as one JSON value, or nil.
    static func json(_ bytes: [UInt8]) -> JSON? {
        try? CanonicalJSON.parse(bytes)
    }

    /// The human message of an error answer: `error.message` (OpenAI,
    /// Anthropic, Gemini), `message` (GitHub, Docker), `Message` (Kubo),
    /// `error` (the HF Hub, Ollama), else the first line of its text.
    public static func errorMessage(_ body: [UInt8]) -> String {
        if let object = json(body)?.objectValue {
            if let text = object["error"]?.objectValue?["message"]?.stringValue { return text }
            for key in ["message", "Message", "error"] {
                if let text = object[key]?.stringValue { return text }
                if let text = object[key]?.objectValue?["message"]?.stringValue { return text }
            }
        }
        return firstLine(body) ?? "(empty body)"
    }

    /// The first line with something on it of a text error body (Kubo's plain
    /// 400s and 404s, a proxy's page), trimmed, at most 300 characters; of an
    /// HTML page, its title or else its first line of text outside the tags.
    static func firstLine(_ body: [UInt8]) -> String? {
        var text = String(decoding: body.prefix(UpstreamErrorAnswer.limit), as: UTF8.self)
        if text.drop(while: \.isWhitespace).first == "<" {
            if let title = text.firstMatch(of: /(?is)<title[^>]*>([^<]*)<\/title>/) { text = String(title.1) }
            text = text.replacing(/<[^>]*>/, with: "\n")
        }
        for line in text.split(whereSeparator: \.isNewline) {
            guard let start = line.firstIndex(where: { !$0.isWhitespace }),
                  let end = line.lastIndex(where: { !$0.isWhitespace }) else { continue }
            return String(line[start...end].prefix(300))
        }
        return nil
    }

    /// Whether a `Content-Type` is a stream's: server-sent events or
    /// newline-delimited JSON (Ollama's `application/x-ndjson`), parameters allowed.
    public static func isStreamContentType(_ contentType: String) -> Bool {
        let mediaType = contentType.prefix { $0 != ";" }.filter { !$0.isWhitespace }.lowercased()
        return ["text/event-stream", "application/x-ndjson", "application/ndjson", "application/jsonl"].contains(mediaType)
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
        return PercentEncoding.encode(value)
    }

    /// A number or a name as a path member (a workflow's id or file name,
    /// a model version): an integer of at least `minimum`, or a string; EINVAL
    /// with `expected` otherwise. Nil when the member is absent or null.
    static func numberOrName(_ request: JSONObject, _ field: String, minimum: Int, expected: String) throws -> String? {
        guard let value = request[field], !value.isNull else { return nil }
        if let number = value.intValue, number >= minimum { return String(number) }
        if let name = value.stringValue { return name }
        throw CacheError(.invalidRequest, "\"\(field)\" must be \(expected)")
    }

    /// A JSON `POST` of the call's body to `url`, with `headers` (by default
    /// the credential as a bearer token, when one is configured).
    static func postJSON(_ url: String, _ call: OperationCall,
                         headers: [(name: String, value: String)]? = nil) -> UpstreamHTTPRequest {
        UpstreamHTTPRequest(method: "POST", url: url, headers: [jsonContentType] + (headers ?? bearer(call.endpoint.credential)),
                            body: call.body)
    }
}
