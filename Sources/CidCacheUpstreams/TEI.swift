import CidCacheCore

/// Hugging Face Text Embeddings Inference: `POST {base}/embed`. No key is
/// needed; one configured is sent as a bearer token.
public struct TEIFamily: UpstreamFamily {
    public let name = "tei"
    public let catalog: [UpstreamOperation]

    public init() {
        // Embeddings are deterministic; `normalize`, `truncate` and the rest
        // change the vectors, so nothing is dropped.
        var embed = UpstreamOperation("embed", ttl: .fixed(86_400), transport: .http { call in
            WireFormat.postJSON(call.endpoint.url("/embed"), call)
        })
        embed.validate = { request in try RequestFields.require(["inputs"], in: request, op: "embed") }
        catalog = [embed]
    }
}
