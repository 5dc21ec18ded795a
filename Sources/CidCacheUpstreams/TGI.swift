import CidCacheCore

/// Hugging Face Text Generation Inference: `POST {base}/generate` (its own
/// API, never streamed: streaming is the separate `/generate_stream`, which is
/// not cached) and `POST {base}/v1/chat/completions` (OpenAI's API). The base
/// URL has no `/v1`. A configured token is sent as a bearer token.
struct TGIFamily: UpstreamFamily {
    public let name = "tgi"
    public let catalog: [UpstreamOperation]
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("tgi", url: "http://127.0.0.1:8080", keyVariables: ["HF_TOKEN"])]
    }

    public init() {
        // TGI refuses `parameters.temperature` 0 (greedy decoding is
        // `do_sample: false`), so generate answers live 1800 s.
        var generate = UpstreamOperation.posting("generate", to: [.body("/generate")], ttl: .temperature(at: ["parameters", "temperature"]))
        generate.validate = { request in
            try RequestFields.require(["inputs"], in: request, op: "generate")
            try RequestFields.check(request, "inputs", is: .string)
        }
        generate.usage = Self.generateUsage

        // OpenAI's chat (the base URL has no `/v1`), `model` optional.
        var chat = OpenAIFamily.operation("chat.completions", path: "/v1/chat/completions", input: "messages",
                                          ttl: .temperature(at: ["temperature"]), streams: true)
        chat.validate = { request in
            try RequestFields.require(["messages"], in: request, op: "chat.completions")
            if request["model"] != nil { try RequestFields.model(request, op: "chat.completions") }
        }
        catalog = [generate, chat]
    }

    /// `details.generated_tokens` out and the `details.prefill` tokens in,
    /// present when the request set `parameters.details` (and
    /// `decoder_input_details` for the prefill).
    static let generateUsage = UsageReader { answer in
        answer["details"]?.objectValue.map { details in
            TokenUsage(model: nil, inputTokens: details["prefill"]?.arrayValue?.count ?? 0,
                       outputTokens: details["generated_tokens"]?.intValue ?? 0)
        }
    }
}
