/// The upstream families the engine knows, by the name a config file uses.
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
}
