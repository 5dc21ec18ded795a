import CidCacheCore

/// Hugging Face Text Generation Inference: `POST {base}/generate` (its own
/// API, never streamed: streaming is the separate `/generate_stream`, which is
/// not cached) and `POST {base}/v1/chat/completions` (OpenAI's API). The base
/// URL has no `/v1`. A configured token is sent as a bearer token.
public struct TGIFamily: UpstreamFamily {
    public init() {}

    public let name = "tgi"
    public let operations = ["generate", "chat.completions"]

    private static let paths = ["generate": "/generate", "chat.completions": "/v1/chat/completions"]

    /// Chat drops what OpenAI's API drops (`user`, `metadata`, `store`);
    /// generate drops nothing.
    public func droppedFields(op: String) -> Set<String> {
        op == "chat.completions" ? ["user", "metadata", "store"] : []
    }

    public func validate(op: String, request: JSONObject) throws {
        switch op {
        case "generate":
            try WireFormat.require(["inputs"], in: request, op: op)
            guard request["inputs"]?.stringValue != nil else {
                throw CacheError(.invalidRequest, "\"inputs\" must be a string")
            }
        default:
            try WireFormat.require(["messages"], in: request, op: op)
            if request["model"] != nil { try WireFormat.requireModel(request, op: op) }
        }
    }

    /// The temperature rule at `parameters.temperature` (generate) or
    /// `temperature` (chat). TGI refuses `parameters.temperature` 0 (greedy
    /// decoding is `do_sample: false`), so generate answers live 1800 s.
    public func defaultTTL(op: String, request: JSONObject) -> Int {
        op == "generate"
            ? TemperatureRule.ttl(request, path: ["parameters", "temperature"])
            : TemperatureRule.ttl(request, path: ["temperature"])
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard let path = Self.paths[op] else { throw CacheError(.notFound, "unknown operation \(op)") }
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url(path),
                                   headers: [WireFormat.jsonContentType] + WireFormat.bearer(endpoint.credential),
                                   body: body)
    }

    /// Chat: OpenAI's `usage` (streamed: the last chunk that carries one).
    /// Generate: `details.generated_tokens` out and the `details.prefill`
    /// tokens in, present when the request set `parameters.details` (and
    /// `decoder_input_details` for the prefill).
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        let model = request["model"]?.stringValue
        guard op == "generate" else { return WireFormat.openAIUsage(response: response, model: model) }
        guard let details = WireFormat.json(response)?["details"]?.objectValue else { return nil }
        return TokenUsage(model: model,
                          inputTokens: details["prefill"]?.arrayValue?.count ?? 0,
                          outputTokens: details["generated_tokens"]?.intValue ?? 0)
    }

    /// Chat streams server-sent events on `"stream": true`; generate never does.
    public func streams(op: String, request: JSONObject) -> Bool {
        op == "chat.completions" && WireFormat.asksForStream(request)
    }

    /// A chat stream is complete once `data: [DONE]` arrived.
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        op != "chat.completions" || WireFormat.isCompleteOpenAIStream(body)
    }
}
