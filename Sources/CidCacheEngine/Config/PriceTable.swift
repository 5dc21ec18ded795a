public import CidCacheUpstreams

/// Prices of well-known models, overridable by the config's `prices`.
/// A model is matched exactly first, then by the longest known prefix
/// (so dated snapshots like `gpt-4o-mini-2024-07-18` price as `gpt-4o-mini`).
public struct PriceTable: Sendable {
    private var prices: [String: ModelPrice]

    /// Every family's list prices (USD per million tokens) at the time of writing.
    public static var defaults: [String: ModelPrice] { FamilyRegistry.prices }

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
