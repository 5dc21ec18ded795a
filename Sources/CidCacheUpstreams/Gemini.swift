import CidCacheCore

/// Google's Gemini API (Generative Language API, `v1beta`):
/// `POST {base}/v1beta/models/{model}:generateContent` and `:embedContent`,
/// key in the `x-goog-api-key` header. The model is the request's `model`
/// member (`"gemini-2.0-flash"` or `"models/gemini-2.0-flash"`): it stays in
/// the key and moves from the body into the path.
public struct GeminiFamily: UpstreamFamily {
    public init() {}

    public let name = "gemini"
    public let operations = ["generateContent", "embedContent"]
    public var requiresCredential: Bool { true }

    private static let requiredFields = [
        "generateContent": ["model", "contents"],
        "embedContent": ["model", "content"],
    ]

    /// Nothing: every member of a Gemini request can change the answer.
    public func droppedFields(op: String) -> Set<String> { [] }

    public func validate(op: String, request: JSONObject) throws {
        try WireFormat.require(Self.requiredFields[op] ?? ["model"], in: request, op: op)
        _ = try Self.modelSegment(request, op: op)
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        op == "embedContent" ? 86_400 : TemperatureRule.ttl(request, path: ["generationConfig", "temperature"])
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard operations.contains(op) else { throw CacheError(.notFound, "unknown operation \(op)") }
        let model = try Self.modelSegment(request, op: op)
        var headers = [WireFormat.jsonContentType]
        if let key = endpoint.credential { headers.append((name: "x-goog-api-key", value: key)) }
        let upstreamBody = try CanonicalJSON.parseDocument(body).removingTopLevelMembers(["model"])
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url("/v1beta/models/\(model):\(op)"),
                                   headers: headers, body: upstreamBody)
    }

    /// The model id without its `models/` prefix, as one path segment.
    static func modelSegment(_ request: JSONObject, op: String) throws -> String {
        var model = try WireFormat.requireModel(request, op: op)
        if model.hasPrefix("models/") { model.removeFirst("models/".count) }
        return try WireFormat.pathSegment(model, field: "model")
    }

    /// `usageMetadata.promptTokenCount` in, `candidatesTokenCount` plus
    /// `thoughtsTokenCount` (thinking is billed as output) out.
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        guard let usage = WireFormat.json(response)?["usageMetadata"]?.objectValue else { return nil }
        var model = request["model"]?.stringValue
        if let name = model, name.hasPrefix("models/") { model = String(name.dropFirst("models/".count)) }
        return TokenUsage(model: model,
                          inputTokens: usage["promptTokenCount"]?.intValue ?? 0,
                          outputTokens: (usage["candidatesTokenCount"]?.intValue ?? 0)
                              + (usage["thoughtsTokenCount"]?.intValue ?? 0))
    }
}

/// Google answers a wrong or expired API key with 400 INVALID_ARGUMENT, not
/// 401: the error's `details` carry a `google.rpc.ErrorInfo` whose reason is
/// `API_KEY_INVALID` (or another `API_KEY_...`). The upstream refused the
/// credentials, so it is EACCES (docs/REFERENCE.md §5.1), not EINVAL.
extension GeminiFamily: ErrorMappingFamily {
    public func error(op: String, status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        guard status == 400, let error = WireFormat.json(body)?["error"]?.objectValue else { return nil }
        let reasons = error["details"]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []
        guard let reason = reasons.first(where: { $0.hasPrefix("API_KEY_") }) else { return nil }
        let message = error["message"]?.stringValue ?? "API key not valid"
        return CacheError(.accessDenied, "upstream refused the API key (400 \(reason)): \(message)", status: status)
    }
}
