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

    /// Reads `usage.prompt_tokens` and `usage.completion_tokens`.
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        guard let usage = (try? CanonicalJSON.parse(response))?.objectValue?["usage"]?.objectValue else { return nil }
        return TokenUsage(
            model: request["model"]?.stringValue,
            inputTokens: usage["prompt_tokens"]?.intValue ?? 0,
            outputTokens: usage["completion_tokens"]?.intValue ?? 0)
    }
}
