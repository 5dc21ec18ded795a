/// How the HTTP front serves one family under `/<namespace>`, which stands
/// for the namespace's base URL: the routes that are operations (each one
/// upstream call of docs/REFERENCE.md's operations, whose HTTP body is the
/// query request), how the family words an error, and what its streams are.
/// Every other route of the namespace is passed through uncached.
struct FamilyRoutes: Sendable, Equatable {
    /// One route that is an operation: `POST /chat/completions` is `chat.completions`.
    struct Route: Sendable, Equatable {
        let method: String
        /// The path under the base URL, matched exactly (no query).
        let path: String
        let operation: String
    }

    let routes: [Route]
    /// How errors the front words itself look in this family.
    let errorFormat: ErrorFormat
    /// The `Content-Type` of a streamed answer.
    let streamContentType: String

    /// The operation a method and path (under the base URL, without its query) stand for; nil: pass through.
    func operation(method: String, path: String) -> String? {
        routes.first { $0.method == method && $0.path == path }?.operation
    }

    /// The routes of a family by its name; nil for a family served by pass-through alone.
    static func family(_ name: String) -> FamilyRoutes? {
        switch name {
        case "openai": return openAI
        case "anthropic": return anthropic
        case "ollama": return ollama
        default: return nil
        }
    }

    /// OpenAI and every server of its API (the base URL includes `/v1`).
    static let openAI = FamilyRoutes(routes: [
        Route(method: "POST", path: "/chat/completions", operation: "chat.completions"),
        Route(method: "POST", path: "/completions", operation: "completions"),
        Route(method: "POST", path: "/embeddings", operation: "embeddings"),
    ], errorFormat: .openAI, streamContentType: "text/event-stream; charset=utf-8")

    /// Anthropic's Messages API (the base URL has no `/v1`).
    static let anthropic = FamilyRoutes(routes: [
        Route(method: "POST", path: "/v1/messages", operation: "messages"),
    ], errorFormat: .anthropic, streamContentType: "text/event-stream; charset=utf-8")

    /// Ollama's native API.
    static let ollama = FamilyRoutes(routes: [
        Route(method: "POST", path: "/api/chat", operation: "chat"),
        Route(method: "POST", path: "/api/generate", operation: "generate"),
        Route(method: "POST", path: "/api/embed", operation: "embed"),
    ], errorFormat: .message, streamContentType: "application/x-ndjson")
}
