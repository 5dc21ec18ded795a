/// How many upstream calls a namespace may have in flight, and start in a minute.
public struct UpstreamLimits: Sendable, Equatable {
    public var concurrent: Int
    /// nil: no per-minute limit (self-hosted servers).
    public var perMinute: Int?

    public init(concurrent: Int, perMinute: Int?) {
        self.concurrent = concurrent
        self.perMinute = perMinute
    }

    /// Defaults from each API's public limits for a first paid tier (requests
    /// per minute); self-hosted servers are limited only in concurrency.
    public static func defaults(for namespace: String) -> UpstreamLimits {
        switch namespace {
        case "openai": return UpstreamLimits(concurrent: 32, perMinute: 500)
        case "anthropic": return UpstreamLimits(concurrent: 16, perMinute: 50)
        case "groq": return UpstreamLimits(concurrent: 8, perMinute: 30)
        case "gemini": return UpstreamLimits(concurrent: 16, perMinute: 150)
        case "github", "codeql": return UpstreamLimits(concurrent: 8, perMinute: 80)  // 5000 an hour
        case "hf": return UpstreamLimits(concurrent: 16, perMinute: 200)  // 1000 per 5 minutes
        default: return UpstreamLimits(concurrent: 16, perMinute: nil)
        }
    }
}
