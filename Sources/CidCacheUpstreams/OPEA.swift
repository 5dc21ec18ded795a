import CidCacheCore

/// An OPEA (Open Platform for Enterprise AI) megaservice: the operation name
/// is the route, `POST {base}/v1/{op}`. Any name matching
/// `^[a-z][a-z0-9_-]{0,63}$` is accepted; `operations` lists the GenAIExamples
/// routes. Chat-style megaservices (ChatQnA and others) stream server-sent
/// events ending with `data: [DONE]` unless the request says `"stream": false`.
/// No key is needed; one configured is sent as a bearer token.
public struct OPEAFamily: UpstreamFamily {
    public init() {}

    public let name = "opea"
    public let operations = [
        "chatqna", "codegen", "codetrans", "docsum", "faqgen", "searchqna", "translation",
        "audioqna", "visualqna", "videoqna", "multimodalqna",
    ]

    /// Any route name: a lower-case letter, then up to 63 of `a-z 0-9 _ -`.
    public func acceptsOperation(_ op: String) -> Bool {
        let bytes = Array(op.utf8)
        guard let first = bytes.first, (1...64).contains(bytes.count),
              (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return bytes.dropFirst().allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    /// Nothing: each megaservice defines its own request.
    public func droppedFields(op: String) -> Set<String> { [] }

    /// Megaservice requests differ by route; any JSON object is passed on.
    public func validate(op: String, request: JSONObject) throws {}

    public func defaultTTL(op: String, request: JSONObject) -> Int { 1800 }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard acceptsOperation(op) else { throw CacheError(.notFound, "unknown operation \(op)") }
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url("/v1/\(op)"),
                                   headers: [WireFormat.jsonContentType] + WireFormat.bearer(endpoint.credential),
                                   body: body)
    }

    /// OpenAI-style `usage`, when the megaservice reports one.
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        WireFormat.openAIUsage(response: response, model: request["model"]?.stringValue)
    }

    /// Streams unless `"stream": false` (ChatQnA's default is to stream); a
    /// route that answers with plain JSON instead counts as complete.
    public func streams(op: String, request: JSONObject) -> Bool {
        request["stream"]?.boolValue != false
    }

    /// Complete when the answer is one JSON value or ended with `data: [DONE]`.
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        WireFormat.isCompleteOpenAIStream(body)
    }
}
