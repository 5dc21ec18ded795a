import CidCacheCore

/// OpenVINO Model Server through the KServe v2 (Open Inference Protocol) REST
/// API: `POST {base}/v2/models/{model}[/versions/{version}]/infer`. The model
/// and its optional version are the request's `model` and `model_version`
/// members: they stay in the key and move from the body into the path. No key
/// is needed; one configured is sent as a bearer token.
struct OVMSFamily: UpstreamFamily {
    public let name = "ovms"
    public let catalog: [UpstreamOperation]
    /// OVMS's documented REST port (--rest_port 8000; 9000 is its gRPC port).
    public var builtInNamespaces: [BuiltInNamespace] { [BuiltInNamespace("ovms", url: "http://127.0.0.1:8000")] }

    public init() {
        // Nothing is dropped: `id` is echoed in the answer, the rest shapes the inference.
        let routes: [OperationRoute] = [.body("/v2/models/{model}/infer"), .body("/v2/models/{model}/versions/{model_version}/infer")]
        var infer = UpstreamOperation.posting("infer", to: routes, ttl: .fixed(1800), members: Self.members)
        infer.validate = { request in
            try RequestFields.require(["model", "inputs"], in: request, op: "infer")
            _ = try OperationRoute.path(among: routes, try Self.members(request), op: "infer")
            try RequestFields.check(request, "inputs", is: .array)
        }
        catalog = [infer]
    }

    /// The model and its version, a non-negative integer or a string, when given.
    @Sendable static func members(_ request: JSONObject) throws -> [String: String] {
        var members = ["model": try RequestFields.model(request, op: "infer")]
        members["model_version"] = try WireFormat.numberOrName(request, "model_version", minimum: 0,
                                                              expected: "a non-negative integer or a string")
        return members
    }
}
