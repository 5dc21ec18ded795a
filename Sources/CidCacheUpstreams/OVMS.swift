import CidCacheCore

/// OpenVINO Model Server through the KServe v2 (Open Inference Protocol) REST
/// API: `POST {base}/v2/models/{model}[/versions/{version}]/infer`. The model
/// and its optional version are the request's `model` and `model_version`
/// members: they stay in the key and move from the body into the path. No key
/// is needed; one configured is sent as a bearer token.
public struct OVMSFamily: UpstreamFamily {
    public init() {}

    public let name = "ovms"
    public let operations = ["infer"]

    /// Nothing: `id` is echoed in the answer, the rest shapes the inference.
    public func droppedFields(op: String) -> Set<String> { [] }

    public func validate(op: String, request: JSONObject) throws {
        try WireFormat.require(["model", "inputs"], in: request, op: op)
        _ = try Self.path(request, op: op)
        guard request["inputs"]?.arrayValue != nil else {
            throw CacheError(.invalidRequest, "\"inputs\" must be an array of tensors")
        }
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int { 1800 }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard op == "infer" else { throw CacheError(.notFound, "unknown operation \(op)") }
        let upstreamBody = try CanonicalJSON.parseDocument(body).removingTopLevelMembers(["model", "model_version"])
        return UpstreamHTTPRequest(method: "POST", url: endpoint.url(try Self.path(request, op: op)),
                                   headers: [WireFormat.jsonContentType] + WireFormat.bearer(endpoint.credential),
                                   body: upstreamBody)
    }

    /// `/v2/models/{model}[/versions/{version}]/infer`; the version is a
    /// non-negative integer or a string.
    static func path(_ request: JSONObject, op: String) throws -> String {
        let model = try WireFormat.pathSegment(try WireFormat.requireModel(request, op: op), field: "model")
        var path = "/v2/models/\(model)"
        if let version = try WireFormat.numberOrNameSegment(request, "model_version", minimum: 0,
                                                           expected: "a non-negative integer or a string") {
            path += "/versions/\(version)"
        }
        return path + "/infer"
    }
}
