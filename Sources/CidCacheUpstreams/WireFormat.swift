import CidCacheCore

/// Small pieces the families share.
public enum WireFormat {
    /// `bytes` parsed as one JSON value, or nil.
    static func json(_ bytes: [UInt8]) -> JSON? {
        try? CanonicalJSON.parse(bytes)
    }

    /// Whether the body is one complete JSON value (an answer that was not streamed).
    static func isWholeJSON(_ bytes: [UInt8]) -> Bool {
        json(bytes) != nil
    }

    /// The human message of an error answer: `error.message` (OpenAI,
    /// Anthropic, Gemini), `message` (GitHub, Docker), `Message` (Kubo),
    /// `error` (the HF Hub, Ollama), else the start of the body.
    public static func errorMessage(_ body: [UInt8]) -> String {
        if let object = json(body)?.objectValue {
            if let text = object["error"]?.objectValue?["message"]?.stringValue { return text }
            for key in ["message", "Message", "error"] {
                if let text = object[key]?.stringValue { return text }
                if let text = object[key]?.objectValue?["message"]?.stringValue { return text }
            }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.isEmpty ? "(empty body)" : text
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

    /// A number or a name as one path segment (a workflow's id or file name,
    /// a model version): an integer of at least `minimum`, or a string; EINVAL
    /// with `expected` otherwise. Nil when the member is absent or null.
    static func numberOrNameSegment(_ request: JSONObject, _ field: String, minimum: Int, expected: String) throws -> String? {
        guard let value = request[field], !value.isNull else { return nil }
        if let number = value.intValue, number >= minimum { return String(number) }
        if let name = value.stringValue { return try pathSegment(name, field: field) }
        throw CacheError(.invalidRequest, "\"\(field)\" must be \(expected)")
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
