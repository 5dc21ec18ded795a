import CidCacheCore

/// OpenAI's API and every server that speaks it (Groq, vLLM, any compatible
/// endpoint the config adds). The base URL includes its `/v1`.
public struct OpenAIFamily: UpstreamFamily {
    public init() {}

    public let name = "openai"
    public let operations = ["chat.completions", "completions", "embeddings"]

    private static let paths = [
        "chat.completions": "/chat/completions",
        "completions": "/completions",
        "embeddings": "/embeddings",
    ]
    private static let requiredFields = [
        "chat.completions": ["model", "messages"],
        "completions": ["model", "prompt"],
        "embeddings": ["model", "input"],
    ]

    /// `user` and `metadata` only label a call, `store` only asks OpenAI to keep it.
    public func droppedFields(op: String) -> Set<String> { ["user", "metadata", "store"] }

    public func validate(op: String, request: JSONObject) throws {
        for field in Self.requiredFields[op] ?? [] where request[field] == nil {
            throw CacheError(.invalidRequest, "\(op) requires the field \"\(field)\"")
        }
        if request["model"]?.stringValue == nil {
            throw CacheError(.invalidRequest, "\"model\" must be a string")
        }
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        switch op {
        case "embeddings": return 86_400
        case "completions": return 3600
        default: return TemperatureRule.ttl(request, path: ["temperature"])
        }
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard let path = Self.paths[op] else { throw CacheError(.notFound, "unknown operation \(op)") }
        var headers = [(name: "Content-Type", value: "application/json")]
        if let key = endpoint.credential { headers.append((name: "Authorization", value: "Bearer \(key)")) }
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url(path), headers: headers, body: body)
    }

    /// Reads `usage.prompt_tokens` and `usage.completion_tokens`; of a streamed
    /// answer, the last `usage` a chunk carried (`stream_options.include_usage`).
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        WireFormat.openAIUsage(response: response, model: request["model"]?.stringValue)
    }

    /// Chat and completions stream server-sent events on `"stream": true`.
    public func streams(op: String, request: JSONObject) -> Bool {
        op != "embeddings" && WireFormat.asksForStream(request)
    }

    /// A stream is complete once `data: [DONE]` arrived.
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        op == "embeddings" || WireFormat.isCompleteOpenAIStream(body)
    }
}
