public import CidCacheUpstreams
/// What a model costs, in USD per million tokens.
public struct ModelPrice: Sendable, Equatable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
}

/// Prices of well-known models, overridable by the config's `prices`.
/// A model is matched exactly first, then by the longest known prefix
/// (so dated snapshots like `gpt-4o-mini-2024-07-18` price as `gpt-4o-mini`).
public struct PriceTable: Sendable {
    private var prices: [String: ModelPrice]

    /// Public list prices (USD per million tokens) at the time of writing.
    public static let defaults: [String: ModelPrice] = [
        "gpt-4o": ModelPrice(inputPerMillion: 2.50, outputPerMillion: 10.00),
        "gpt-4o-mini": ModelPrice(inputPerMillion: 0.15, outputPerMillion: 0.60),
        "gpt-4.1": ModelPrice(inputPerMillion: 2.00, outputPerMillion: 8.00),
        "gpt-4.1-mini": ModelPrice(inputPerMillion: 0.40, outputPerMillion: 1.60),
        "gpt-4.1-nano": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0.40),
        "gpt-3.5-turbo": ModelPrice(inputPerMillion: 0.50, outputPerMillion: 1.50),
        "o3-mini": ModelPrice(inputPerMillion: 1.10, outputPerMillion: 4.40),
        "text-embedding-3-small": ModelPrice(inputPerMillion: 0.02, outputPerMillion: 0),
        "text-embedding-3-large": ModelPrice(inputPerMillion: 0.13, outputPerMillion: 0),
        "text-embedding-ada-002": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0),
        "claude-3-5-sonnet": ModelPrice(inputPerMillion: 3.00, outputPerMillion: 15.00),
        "claude-3-5-haiku": ModelPrice(inputPerMillion: 0.80, outputPerMillion: 4.00),
        "claude-sonnet-4": ModelPrice(inputPerMillion: 3.00, outputPerMillion: 15.00),
        "claude-opus-4": ModelPrice(inputPerMillion: 15.00, outputPerMillion: 75.00),
        "gemini-1.5-flash": ModelPrice(inputPerMillion: 0.075, outputPerMillion: 0.30),
        "gemini-1.5-pro": ModelPrice(inputPerMillion: 1.25, outputPerMillion: 5.00),
        "gemini-2.0-flash": ModelPrice(inputPerMillion: 0.10, outputPerMillion: 0.40),
        "llama-3.1-8b-instant": ModelPrice(inputPerMillion: 0.05, outputPerMillion: 0.08),
        "llama-3.3-70b-versatile": ModelPrice(inputPerMillion: 0.59, outputPerMillion: 0.79),
    ]

    public init(overrides: [String: ModelPrice] = [:]) {
        prices = PriceTable.defaults.merging(overrides) { _, override in override }
    }

    /// The price of a model, or nil when it is unknown (self-hosted models cost nothing here).
    public func price(of model: String) -> ModelPrice? {
        if let exact = prices[model] { return exact }
        let prefix = prices.keys.filter { model.hasPrefix($0 + "-") }.max { $0.count < $1.count }
        return prefix.flatMap { prices[$0] }
    }

    /// The cost of one call's usage in USD.
    public func cost(of usage: TokenUsage) -> Double {
        guard let model = usage.model, let price = price(of: model) else { return 0 }
        return (Double(usage.inputTokens) * price.inputPerMillion
            + Double(usage.outputTokens) * price.outputPerMillion) / 1_000_000
    }
}
