import CidCacheCore

/// OpenAI's API and every server that speaks it (Groq, vLLM, any compatible
/// endpoint the config adds). The base URL includes its `/v1`.
struct OpenAIFamily: UpstreamFamily {
    public let name = "openai"
    public let catalog: [UpstreamOperation]
    public var errorFormat: ErrorFormat { .openAI }

    public init() {
        catalog = [
            Self.operation("chat.completions", path: "/chat/completions", input: "messages",
                           ttl: .temperature(at: ["temperature"]), streams: true),
            Self.operation("completions", path: "/completions", input: "prompt", ttl: .fixed(3600), streams: true),
            Self.operation("embeddings", path: "/embeddings", input: "input", ttl: .fixed(86_400), streams: false),
            Self.responses,
        ].map { operation in
            var operation = operation
            operation.streamContentType = operation.streamContentType.map { $0 + "; charset=utf-8" }
            return operation
        }
    }

    public var builtInNamespaces: [BuiltInNamespace] {
        [
            BuiltInNamespace("openai", url: "https://api.openai.com/v1", urlVariables: ["OPENAI_BASE_URL"],
                             keyVariables: ["OPENAI_API_KEY"], limits: UpstreamLimits(concurrent: 32, perMinute: 500)),
            BuiltInNamespace("groq", url: "https://api.groq.com/openai/v1", keyVariables: ["GROQ_API_KEY"],
                             limits: UpstreamLimits(concurrent: 8, perMinute: 30)),
            BuiltInNamespace("vllm", url: "http://127.0.0.1:8000/v1", keyVariables: ["VLLM_API_KEY"]),
        ]
    }

    /// Public list prices (USD per million tokens) at the time of writing, Groq's models with them.
    public var prices: [String: ModelPrice] {
        [
            "gpt-4o": ModelPrice(inputPerMillion: 2.50, outputPerMillion: 10.00),
            "gpt-4o-mini": ModelPrice(inputPerMillion: 0.15, outputPerMillion: 0.60),
            "gpt-4.1": ModelPrice(inputPerMillion: 2.00, outputPerMillion: 8.00),
            "gpt-4.1-mini": ModelPrice(inputPerMillion: 0.40, outputPerMillion: 1.60),
            "gpt-4.1-nano": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0.40),
            "gpt-3.5-turbo": ModelPrice(inputPerMillion: 0.50, outputPerMillion: 1.50),
            "o3-mini": ModelPrice(inputPerMillion: 1.10, outputPerMillion: 4.40),
            "text-embedding-3-small": ModelPrice(inputPerMillion: 0.02, outputPerMillion: 0),
            "text-embedding-3-large": ModelPrice(inputPerMillion: 0.13, outputPerMillion: 0),
            "text-embedding-ada-002": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0),
            "llama-3.1-8b-instant": ModelPrice(inputPerMillion: 0.05, outputPerMillion: 0.08),
            "llama-3.3-70b-versatile": ModelPrice(inputPerMillion: 0.59, outputPerMillion: 0.79),
        ]
    }

    /// OpenAI's `sk-` keys, and those of the servers of its API (Groq's `gsk_`, xAI's `xai-`).
    public var credentialPatterns: [String] { [CredentialPattern.prefixed(["sk", "pk", "rk", "gsk", "xai"])] }

    /// The Responses API, `POST {base}/responses` of `model` and `input`,
    /// TTL by its top-level temperature. On `"stream": true` it streams
    /// server-sent events that end with `response.completed`, whose `response`
    /// is the whole answer; a stream whose last event is `response.failed`,
    /// `response.incomplete` or `error` (or that is cut) is no answer.
    static let responses: UpstreamOperation = {
        var operation = OpenAIFamily.operation("responses", path: "/responses", input: "input", ttl: .temperature(at: ["temperature"]), streams: true)
        operation.framing = .serverSentEvents(until: .eventType("response.completed"), when: .whenAsked)
        operation.usage = UsageReader(answer: OpenAIFamily.responseTokens) { earlier, event in
            guard event["type"]?.stringValue == "response.completed",
                  let response = event["response"]?.objectValue else { return earlier }
            return OpenAIFamily.responseTokens(response) ?? earlier
        }
        return operation
    }()

    /// A response's `usage.input_tokens` and `usage.output_tokens`.
    @Sendable static func responseTokens(_ response: JSONObject) -> TokenUsage? {
        response["usage"]?.objectValue.map { usage in
            TokenUsage(model: nil, inputTokens: usage["input_tokens"]?.intValue ?? 0, outputTokens: usage["output_tokens"]?.intValue ?? 0)
        }
    }

    /// `user` and `metadata` only label a call, `store` only asks OpenAI to keep it.
    static let droppedFields: Set<String> = ["user", "metadata", "store"]

    /// A `POST {base}{path}` of `model` and `input`; chat and completions
    /// stream server-sent events ending with `data: [DONE]` on `"stream": true`
    /// (the Responses API sets its own end).
    static func operation(_ name: String, path: String, input: String, ttl: TTLRule, streams: Bool) -> UpstreamOperation {
        var operation = UpstreamOperation.posting(name, to: [.body(path)], ttl: ttl)
        operation.droppedFields = droppedFields
        operation.validate = { request in
            try RequestFields.require(["model", input], in: request, op: name)
            try RequestFields.model(request, op: name)
        }
        if streams { operation.framing = .serverSentEvents(until: .done, when: .whenAsked) }
        operation.usage = .openAI
        return operation
    }
}
