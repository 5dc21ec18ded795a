import CidCacheCore

/// OpenAI's API and every server that speaks it (Groq, vLLM, any compatible
/// endpoint the config adds). The base URL includes its `/v1`.
public struct OpenAIFamily: UpstreamFamily {
    public let name = "openai"
    public let catalog: [UpstreamOperation]

    public init() {
        catalog = [
            Self.operation("chat.completions", path: "/chat/completions", input: "messages",
                           ttl: .temperature(at: ["temperature"]), streams: true),
            Self.operation("completions", path: "/completions", input: "prompt", ttl: .fixed(3600), streams: true),
            Self.operation("embeddings", path: "/embeddings", input: "input", ttl: .fixed(86_400), streams: false),
        ]
    }

    /// `user` and `metadata` only label a call, `store` only asks OpenAI to keep it.
    static let droppedFields: Set<String> = ["user", "metadata", "store"]

    /// A `POST {base}{path}` of `model` and `input`; chat and completions
    /// stream server-sent events ending with `data: [DONE]` on `"stream": true`.
    static func operation(_ name: String, path: String, input: String, ttl: TTLRule, streams: Bool) -> UpstreamOperation {
        var operation = UpstreamOperation(name, ttl: ttl, transport: .http { call in
            WireFormat.postJSON(call.endpoint.url(path), call)
        })
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
