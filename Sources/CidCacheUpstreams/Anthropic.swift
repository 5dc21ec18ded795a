import CidCacheCore

/// Anthropic's Messages API: `POST {base}/v1/messages` with `x-api-key` and
/// `anthropic-version` headers. The base URL has no `/v1`.
public struct AnthropicFamily: UpstreamFamily {
    public init() {}

    public let name = "anthropic"
    public let operations = ["messages"]
    public var requiresCredential: Bool { true }

    /// The API version every call pins; part of the upstream identity.
    public static let apiVersion = "2023-06-01"
    public var versionHeaders: [(name: String, value: String)] {
        [(name: "anthropic-version", value: Self.apiVersion)]
    }

    /// `metadata` (an opaque `user_id`) only labels a call.
    public func droppedFields(op: String) -> Set<String> { ["metadata"] }

    public func validate(op: String, request: JSONObject) throws {
        try WireFormat.require(["model", "messages", "max_tokens"], in: request, op: op)
        try WireFormat.requireModel(request, op: op)
        guard request["messages"]?.arrayValue != nil else {
            throw CacheError(.invalidRequest, "\"messages\" must be an array")
        }
        guard request["max_tokens"]?.intValue != nil else {
            throw CacheError(.invalidRequest, "\"max_tokens\" must be an integer")
        }
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        TemperatureRule.ttl(request, path: ["temperature"])
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard op == "messages" else { throw CacheError(.notFound, "unknown operation \(op)") }
        var headers = [WireFormat.jsonContentType]
        if let key = endpoint.credential { headers.append((name: "x-api-key", value: key)) }
        headers += versionHeaders
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url("/v1/messages"), headers: headers, body: body)
    }

    /// `usage.input_tokens` and `usage.output_tokens`; of a stream, the input
    /// from `message_start`'s `message.usage` and the output from the last
    /// `message_delta`'s `usage` (its counts are cumulative).
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        let model = request["model"]?.stringValue
        if let whole = WireFormat.json(response) {
            guard let usage = whole["usage"]?.objectValue else { return nil }
            return TokenUsage(model: model, inputTokens: usage["input_tokens"]?.intValue ?? 0,
                              outputTokens: usage["output_tokens"]?.intValue ?? 0)
        }
        var input: Int?, output: Int?
        for event in ServerSentEvents(response).objects {
            switch event["type"]?.stringValue {
            case "message_start":
                let usage = event["message"]?["usage"]?.objectValue
                input = usage?["input_tokens"]?.intValue ?? input
                output = usage?["output_tokens"]?.intValue ?? output
            case "message_delta":
                let usage = event["usage"]?.objectValue
                input = usage?["input_tokens"]?.intValue ?? input
                output = usage?["output_tokens"]?.intValue ?? output
            default:
                break
            }
        }
        guard input != nil || output != nil else { return nil }
        return TokenUsage(model: model, inputTokens: input ?? 0, outputTokens: output ?? 0)
    }

    /// Server-sent events on `"stream": true`.
    public func streams(op: String, request: JSONObject) -> Bool {
        WireFormat.asksForStream(request)
    }

    /// A stream is complete once its last event is `message_stop` (an `error`
    /// event or a cut leaves it incomplete).
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        if WireFormat.isWholeJSON(body) { return true }
        let events = ServerSentEvents(body)
        guard !events.endsMidLine, let last = events.events.last else { return false }
        return last.json?["type"]?.stringValue == "message_stop"
    }
}
