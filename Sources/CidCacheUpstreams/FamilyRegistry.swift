/// The upstream families the engine knows, by the name a config file uses,
/// and what is derived from all of them: the built-in namespaces, the model
/// prices, the credential shapes.
public enum FamilyRegistry {
    public static let all: [any UpstreamFamily] = [
        OpenAIFamily(), AnthropicFamily(), GeminiFamily(), OllamaFamily(),
        TGIFamily(), TEIFamily(), OVMSFamily(), OPEAFamily(),
        S3Family(), DockerFamily(), ExecFamily(),
        HuggingFaceFamily(), GitHubFamily(), CodeQLFamily(), IPFSFamily(),
    ]

    public static func family(named name: String) -> (any UpstreamFamily)? {
        all.first { $0.name == name }
    }

    /// Every family's built-in namespaces by name, with the family's name.
    public static let builtInNamespaces: [String: (family: String, namespace: BuiltInNamespace)] = Dictionary(
        uniqueKeysWithValues: all.flatMap { family in family.builtInNamespaces.map { ($0.name, (family: family.name, namespace: $0)) } })

    /// Every family's model prices.
    public static let prices: [String: ModelPrice] = all.reduce(into: [:]) { prices, family in
        prices.merge(family.prices) { first, _ in first }
    }

    /// Every family's credential shapes, as regular expressions.
    public static let credentialPatterns: [String] = all.flatMap(\.credentialPatterns)
}
