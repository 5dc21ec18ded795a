import CidCacheCore

/// Hugging Face Text Embeddings Inference: `POST {base}/embed`. No key is
/// needed; one configured is sent as a bearer token.
public struct TEIFamily: UpstreamFamily {
    public init() {}

    public let name = "tei"
    public let operations = ["embed"]

    /// Nothing: `normalize`, `truncate` and the rest change the vectors.
    public func droppedFields(op: String) -> Set<String> { [] }

    public func validate(op: String, request: JSONObject) throws {
        try WireFormat.require(["inputs"], in: request, op: op)
    }

    /// Embeddings are deterministic.
    public func defaultTTL(op: String, request: JSONObject) -> Int { 86_400 }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard op == "embed" else { throw CacheError(.notFound, "unknown operation \(op)") }
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url("/embed"),
                                   headers: [WireFormat.jsonContentType] + WireFormat.bearer(endpoint.credential),
                                   body: body)
    }
}
