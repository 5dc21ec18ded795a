import CidCacheCore

/// Google's Gemini API (Generative Language API, `v1beta`):
/// `POST {base}/v1beta/models/{model}:generateContent`,
/// `:streamGenerateContent?alt=sse` and `:embedContent`, key in the
/// `x-goog-api-key` header. The model is the request's `model`
/// member (`"gemini-2.0-flash"` or `"models/gemini-2.0-flash"`): it stays in
/// the key and moves from the body into the path.
struct GeminiFamily: UpstreamFamily {
    public let name = "gemini"
    public var credentialHeader: CredentialHeader? { .named("x-goog-api-key") }
    public var requiresCredential: Bool { true }
    public var catalog: [UpstreamOperation] { Self.listed }
    public var errorFormat: ErrorFormat { .google }
    /// Google's SDKs prefer GOOGLE_API_KEY when both are set.
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("gemini", url: "https://generativelanguage.googleapis.com", keyVariables: ["GOOGLE_API_KEY", "GEMINI_API_KEY"],
                          limits: UpstreamLimits(concurrent: 16, perMinute: 150))]
    }
    public var prices: [String: ModelPrice] {
        [
            "gemini-1.5-flash": ModelPrice(inputPerMillion: 0.075, outputPerMillion: 0.30),
            "gemini-1.5-pro": ModelPrice(inputPerMillion: 1.25, outputPerMillion: 5.00),
            "gemini-2.0-flash": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0.40),
        ]
    }
    /// Google API keys: "AIza" and 35 more, no separator.
    public var credentialPatterns: [String] { [#"AIza[A-Za-z0-9_\-]{20,}"#] }
    static let listed = [
        operation("generateContent", input: "contents", ttl: .temperature(at: ["generationConfig", "temperature"])),
        streamGenerateContent,
        operation("embedContent", input: "content", ttl: .fixed(86_400)),
    ]

    /// `generateContent` as server-sent events (`?alt=sse`, as Google's SDKs
    /// ask): each event one `GenerateContentResponse` chunk with the usage so
    /// far; complete once the last chunk has a candidate's `finishReason` (or
    /// says the prompt was blocked). A stream cut before, or ending in an
    /// error, is no answer.
    static let streamGenerateContent: UpstreamOperation = {
        var operation = GeminiFamily.operation("streamGenerateContent", input: "contents",
                                  ttl: .temperature(at: ["generationConfig", "temperature"]), query: "alt=sse")
        operation.framing = .serverSentEvents(until: .lastEvent(GeminiFamily.isLastChunk), when: .always)
        return operation
    }()

    /// Whether a chunk ends the stream: a candidate has its `finishReason`, or the prompt was blocked.
    @Sendable static func isLastChunk(_ chunk: JSONObject) -> Bool {
        let finished = chunk["candidates"]?.arrayValue?.contains { $0["finishReason"]?.stringValue != nil } ?? false
        return finished || chunk["promptFeedback"]?["blockReason"]?.stringValue != nil
    }

    public init() {}

    /// `POST {base}/v1beta/models/{model}:{name}`. Every member of a Gemini
    /// request can change the answer: nothing is dropped.
    static func operation(_ name: String, input: String, ttl: TTLRule, query: String? = nil) -> UpstreamOperation {
        var operation = UpstreamOperation.posting(name, to: [.body("/v1beta/models/{model}:\(name)", query: query)], ttl: ttl,
                                                  members: { request in ["model": modelID(try RequestFields.model(request, op: name))] },
                                                  headers: { endpoint in
            endpoint.credential.map { [(name: "x-goog-api-key", value: $0)] } ?? []
        })
        operation.validate = { request in
            try RequestFields.require(["model", input], in: request, op: name)
            _ = try modelSegment(request, op: name)
        }
        operation.usage = usage
        operation.mapError = apiKeyError
        return operation
    }

    /// The model id without its `models/` prefix, as one path segment.
    static func modelSegment(_ request: JSONObject, op: String) throws -> String {
        try WireFormat.pathSegment(modelID(try RequestFields.model(request, op: op)), field: "model")
    }

    private static func modelID(_ model: String) -> String {
        model.hasPrefix("models/") ? String(model.dropFirst("models/".count)) : model
    }

    /// `usageMetadata.promptTokenCount` in, `candidatesTokenCount` plus
    /// `thoughtsTokenCount` (thinking is billed as output) out.
    static let usage: UsageReader = {
        var reader = UsageReader { answer in
            answer["usageMetadata"]?.objectValue.map { usage in
                TokenUsage(model: nil, inputTokens: usage["promptTokenCount"]?.intValue ?? 0,
                           outputTokens: (usage["candidatesTokenCount"]?.intValue ?? 0)
                               + (usage["thoughtsTokenCount"]?.intValue ?? 0))
            }
        }
        reader.model = { $0["model"]?.stringValue.map(modelID) }
        return reader
    }()
}

/// Google answers a wrong or expired API key with 400 INVALID_ARGUMENT, not
/// 401: the error's `details` carry a `google.rpc.ErrorInfo` whose reason is
/// `API_KEY_INVALID` (or another `API_KEY_...`). The upstream refused the
/// credentials, so it is EACCES (docs/REFERENCE.md §5.1), not EINVAL.
extension GeminiFamily {
    static func apiKeyError(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        guard status == 400, let error = WireFormat.json(body)?["error"]?.objectValue else { return nil }
        let reasons = error["details"]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []
        guard let reason = reasons.first(where: { $0.hasPrefix("API_KEY_") }) else { return nil }
        let message = error["message"]?.stringValue ?? "API key not valid"
        return CacheError(.accessDenied, "upstream refused the API key (400 \(reason)): \(message)", status: status)
    }
}
