import CidCacheCore

/// OpenVINO Model Server through the KServe v2 (Open Inference Protocol) REST
/// API: `POST {base}/v2/models/{model}[/versions/{version}]/infer`. The model
/// and its optional version are the request's `model` and `model_version`
/// members: they stay in the key and move from the body into the path. No key
/// is needed; one configured is sent as a bearer token.
public struct OVMSFamily: UpstreamFamily {
    public let name = "ovms"
    public let catalog: [UpstreamOperation]

    public init() {
        // Nothing is dropped: `id` is echoed in the answer, the rest shapes the inference.
        var infer = UpstreamOperation("infer", ttl: .fixed(1800), transport: .http { call in
            WireFormat.postJSON(call.endpoint.url(try Self.path(call.request, op: "infer")), call)
        })
        infer.pathOnlyFields = ["model", "model_version"]
        infer.validate = { request in
            try RequestFields.require(["model", "inputs"], in: request, op: "infer")
            _ = try Self.path(request, op: "infer")
            try RequestFields.check(request, "inputs", is: .array)
        }
        catalog = [infer]
    }

    /// `/v2/models/{model}[/versions/{version}]/infer`; the version is a
    /// non-negative integer or a string.
    static func path(_ request: JSONObject, op: String) throws -> String {
        let model = try WireFormat.pathSegment(try RequestFields.model(request, op: op), field: "model")
        var path = "/v2/models/\(model)"
        if let version = try WireFormat.numberOrNameSegment(request, "model_version", minimum: 0,
                                                           expected: "a non-negative integer or a string") {
            path += "/versions/\(version)"
        }
        return path + "/infer"
    }
}
