import CidCacheCore

/// Hugging Face Text Embeddings Inference: `POST {base}/embed`. No key is
/// needed; one configured is sent as a bearer token.
struct TEIFamily: UpstreamFamily {
    public let name = "tei"
    public let catalog: [UpstreamOperation]
    public var builtInNamespaces: [BuiltInNamespace] { [BuiltInNamespace("tei", url: "http://127.0.0.1:8080")] }

    public init() {
        // Embeddings are deterministic; `normalize`, `truncate` and the rest
        // change the vectors, so nothing is dropped.
        var embed = UpstreamOperation.posting("embed", to: [.body("/embed")], ttl: .fixed(86_400))
        embed.validate = { request in try RequestFields.require(["inputs"], in: request, op: "embed") }
        catalog = [embed]
    }
}
