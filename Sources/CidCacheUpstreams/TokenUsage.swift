/// Tokens an upstream reported for one call.
public struct TokenUsage: Sendable, Equatable {
    public var model: String?
    public var inputTokens: Int
    public var outputTokens: Int
    public var totalTokens: Int { inputTokens + outputTokens }
    public init(model: String?, inputTokens: Int, outputTokens: Int) {
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}
