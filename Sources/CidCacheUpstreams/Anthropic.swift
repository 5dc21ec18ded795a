import CidCacheCore

/// Anthropic's Messages API: `POST {base}/v1/messages` with `x-api-key` and
/// `anthropic-version` headers. The base URL has no `/v1`.
struct AnthropicFamily: UpstreamFamily {
    public let name = "anthropic"
    public var credentialHeader: CredentialHeader? { .named("x-api-key") }
    public var acceptedCredentialHeaders: [CredentialHeader] { [.named("x-api-key"), .bearer] }
    public var requiresCredential: Bool { true }
    public let catalog: [UpstreamOperation]
    public var errorFormat: ErrorFormat { .anthropic }
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("anthropic", url: "https://api.anthropic.com", urlVariables: ["ANTHROPIC_BASE_URL"],
                          keyVariables: ["ANTHROPIC_API_KEY"], limits: UpstreamLimits(concurrent: 16, perMinute: 50))]
    }
    public var prices: [String: ModelPrice] {
        [
            "claude-3-5-sonnet": ModelPrice(inputPerMillion: 3.00, outputPerMillion: 15.00),
            "claude-3-5-haiku": ModelPrice(inputPerMillion: 0.80, outputPerMillion: 4.00),
            "claude-sonnet-4": ModelPrice(inputPerMillion: 3.00, outputPerMillion: 15.00),
            "claude-opus-4": ModelPrice(inputPerMillion: 15.00, outputPerMillion: 75.00),
        ]
    }
    /// `sk-ant-...` keys.
    public var credentialPatterns: [String] { [CredentialPattern.prefixed(["sk-ant"])] }

    /// The API version every call pins; part of the upstream identity.
    public static let apiVersion = "2023-06-01"
    public var versionHeaders: [(name: String, value: String)] { Self.versionHeaders }
    static let versionHeaders = [(name: "anthropic-version", value: apiVersion)]

    public init() {
        var messages = UpstreamOperation.posting("messages", to: [.body("/v1/messages")], ttl: .temperature(at: ["temperature"]),
                                                 headers: { endpoint in
            (endpoint.credential.map { [(name: "x-api-key", value: $0)] } ?? []) + Self.versionHeaders
        })
        // `metadata` (an opaque `user_id`) only labels a call.
        messages.droppedFields = ["metadata"]
        messages.validate = { request in
            try RequestFields.require(["model", "messages", "max_tokens"], in: request, op: "messages")
            try RequestFields.model(request, op: "messages")
            try RequestFields.check(request, "messages", is: .array)
            try RequestFields.check(request, "max_tokens", is: .integer)
        }
        // Server-sent events on `"stream": true`, complete once the last event is
        // `message_stop` (an `error` event or a cut leaves it incomplete).
        messages.framing = .serverSentEvents(until: .eventType("message_stop"), when: .whenAsked)
        messages.streamContentType = "text/event-stream; charset=utf-8"
        messages.usage = Self.usage
        catalog = [messages]
    }

    /// `usage.input_tokens` and `usage.output_tokens`; of a stream, the input
    /// from `message_start`'s `message.usage` and the output from the last
    /// `message_delta`'s `usage` (its counts are cumulative).
    static let usage = UsageReader(
        answer: { answer in
            answer["usage"]?.objectValue.map { tokens($0, over: nil) }
        },
        event: { sum, event in
            let usage: JSONObject?
            switch event["type"]?.stringValue {
            case "message_start": usage = event["message"]?["usage"]?.objectValue
            case "message_delta": usage = event["usage"]?.objectValue
            default: usage = nil
            }
            guard let usage, usage["input_tokens"]?.intValue != nil || usage["output_tokens"]?.intValue != nil else { return sum }
            return tokens(usage, over: sum)
        })

    /// The counts `usage` gives, the earlier ones where it gives none.
    private static func tokens(_ usage: JSONObject, over earlier: TokenUsage?) -> TokenUsage {
        TokenUsage(model: nil, inputTokens: usage["input_tokens"]?.intValue ?? earlier?.inputTokens ?? 0,
                   outputTokens: usage["output_tokens"]?.intValue ?? earlier?.outputTokens ?? 0)
    }
}
