import CidCacheCore

/// How the HTTP front serves one family under `/<namespace>`, which stands
/// for the namespace's base URL: the routes that are operations (each one
/// the upstream call of an operation of the README's Namespaces section), how
/// the family words an error, and what its streams are. Every other route of
/// the namespace is passed through uncached.
struct FamilyRoutes: Sendable, Equatable {
    /// One route that is an operation.
    struct Route: Sendable, Equatable {
        let method: String
        let pattern: RoutePattern
        let operation: Operation
        /// Where the query request comes from: the HTTP body (a POST of the
        /// request itself, the path's parameters added), or the path's
        /// parameters, the query string and `fixed`.
        let takesBody: Bool
        /// Members the route stands for that its path does not name (`repo_type`).
        let fixed: [String: String]

        /// A POST whose body is the query request (with the path's parameters).
        static func body(_ path: String, _ operation: Operation) -> Route {
            Route(method: "POST", pattern: RoutePattern(path), operation: operation, takesBody: true, fixed: [:])
        }

        /// A GET whose path parameters and query parameters are the query request's members.
        static func parameters(_ path: String, _ operation: Operation, fixed: [String: String] = [:]) -> Route {
            Route(method: "GET", pattern: RoutePattern(path), operation: operation, takesBody: false, fixed: fixed)
        }
    }

    /// The operation a route is: one by name, or the one a path parameter names (OPEA's `/v1/{op}`).
    enum Operation: Sendable, Equatable, ExpressibleByStringLiteral {
        case named(String)
        case parameter(String)

        init(stringLiteral name: String) { self = .named(name) }
    }

    /// A request matched to an operation.
    struct Match: Sendable {
        let operation: String
        let takesBody: Bool
        /// The members the path and the route give.
        let members: [(name: String, value: String)]

        /// The query request: for a body route the body, with the path's
        /// members put first in its object (so the rest keeps the caller's own
        /// bytes, which is what the upstream gets once the engine moves them
        /// back into the path); else the members and the query string's.
        func request(body: [UInt8], query: String?) throws(CacheError) -> [UInt8] {
            takesBody ? try Self.folding(members, into: body) : try request(query: query)
        }

        /// `body`, a JSON object, with `members` (strings) inserted at its start;
        /// EINVAL when it is not an object. A member it already has is then a
        /// duplicate, which keying refuses.
        static func folding(_ members: [(name: String, value: String)], into body: [UInt8]) throws(CacheError) -> [UInt8] {
            guard !members.isEmpty else { return body }
            let isSpace: (UInt8) -> Bool = { [0x20, 0x09, 0x0A, 0x0D].contains($0) }
            guard let open = body.firstIndex(where: { !isSpace($0) }), body[open] == UInt8(ascii: "{") else {
                throw CacheError(.invalidRequest, "the request must be a JSON object")
            }
            let rest = body[(open + 1)...]
            let inserted = members.map { member in
                CanonicalJSON.serialize(.string(member.name)) + [UInt8(ascii: ":")] + CanonicalJSON.serialize(.string(member.value))
            }.joined(separator: [UInt8(ascii: ",")])
            let empty = rest.first(where: { !isSpace($0) }) == UInt8(ascii: "}")
            return Array(body[...open]) + inserted + (empty ? [] : [UInt8(ascii: ",")]) + rest
        }

        /// The query request of a parameter route: the path's members, then
        /// the query string's (as strings; a repeated name is an array of
        /// them); EINVAL when the query is not valid percent-encoding or names a path's member.
        func request(query: String?) throws(CacheError) -> [UInt8] {
            var object = JSONObject(members.map { (key: $0.name, value: JSON.string($0.value)) })
            for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = PercentEncoding.decode(parts[0], plusIsSpace: true),
                      let value = PercentEncoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
                    throw CacheError(.invalidRequest, "the query string is not valid percent-encoding")
                }
                guard !members.contains(where: { $0.name == name }) else {
                    throw CacheError(.invalidRequest, "the query parameter \"\(name)\" is already named by the path")
                }
                switch object[name] {
                case nil: object[name] = .string(value)
                case .array(let values)?: object[name] = .array(values + [.string(value)])
                case let single?: object[name] = .array([single, .string(value)])
                }
            }
            return CanonicalJSON.serialize(.object(object))
        }
    }

    let routes: [Route]
    /// How errors the front words itself look in this family.
    let errorFormat: ErrorFormat
    /// The `Content-Type` of a streamed answer.
    let streamContentType: String

    /// The operation a method and path (under the base URL, without its query) stand for; nil: pass through.
    func match(method: String, path: String) -> Match? {
        for route in routes where route.method == method {
            guard var members = route.pattern.match(path) else { continue }
            let operation: String
            switch route.operation {
            case .named(let name): operation = name
            case .parameter(let parameter):
                // The operation's name, not a member of its request.
                guard let index = members.firstIndex(where: { $0.name == parameter }) else { continue }
                operation = members.remove(at: index).value
            }
            return Match(operation: operation, takesBody: route.takesBody,
                         members: members + route.fixed.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) })
        }
        return nil
    }

    /// The routes of a family by its name; nil for a family served by pass-through alone.
    static func family(_ name: String) -> FamilyRoutes? {
        switch name {
        case "openai": return openAI
        case "anthropic": return anthropic
        case "ollama": return ollama
        case "gemini": return gemini
        case "tgi": return textGeneration
        case "tei": return textEmbeddings
        case "ovms": return modelServer
        case "opea": return megaservice
        case "hf": return huggingFace
        case "github": return gitHub
        default: return nil
        }
    }

    /// OpenAI and every server of its API (the base URL includes `/v1`).
    static let openAI = FamilyRoutes(routes: [
        .body("/chat/completions", "chat.completions"),
        .body("/completions", "completions"),
        .body("/embeddings", "embeddings"),
    ], errorFormat: .openAI, streamContentType: "text/event-stream; charset=utf-8")

    /// Anthropic's Messages API (the base URL has no `/v1`).
    static let anthropic = FamilyRoutes(routes: [
        .body("/v1/messages", "messages"),
    ], errorFormat: .anthropic, streamContentType: "text/event-stream; charset=utf-8")

    /// Ollama's native API.
    static let ollama = FamilyRoutes(routes: [
        .body("/api/chat", "chat"),
        .body("/api/generate", "generate"),
        .body("/api/embed", "embed"),
    ], errorFormat: .message, streamContentType: "application/x-ndjson")

    /// Google's Generative Language API: the model moves from the path into the request.
    static let gemini = FamilyRoutes(routes: [
        .body("/v1beta/models/{model}:generateContent", "generateContent"),
        .body("/v1beta/models/{model}:embedContent", "embedContent"),
    ], errorFormat: .google, streamContentType: "text/event-stream")

    /// Hugging Face Text Generation Inference.
    static let textGeneration = FamilyRoutes(routes: [
        .body("/generate", "generate"),
        .body("/v1/chat/completions", "chat.completions"),
    ], errorFormat: .message, streamContentType: "text/event-stream")

    /// Hugging Face Text Embeddings Inference.
    static let textEmbeddings = FamilyRoutes(routes: [
        .body("/embed", "embed"),
    ], errorFormat: .message, streamContentType: "application/json")

    /// OpenVINO Model Server's KServe v2 REST API: the model (and version) move from the path into the request.
    static let modelServer = FamilyRoutes(routes: [
        .body("/v2/models/{model}/infer", "infer"),
        .body("/v2/models/{model}/versions/{model_version}/infer", "infer"),
    ], errorFormat: .message, streamContentType: "application/json")

    /// An OPEA megaservice: the route is the operation (any name the family accepts).
    static let megaservice = FamilyRoutes(routes: [
        .body("/v1/{op}", .parameter("op")),
    ], errorFormat: .message, streamContentType: "text/event-stream")

    /// The Hugging Face Hub's API, as `HfApi` calls it.
    static let huggingFace = FamilyRoutes(routes: [
        .parameters("/api/models", "list_models"),
        .parameters("/api/datasets", "list_datasets"),
        .parameters("/api/models-tags-by-type", "model_tags"),
    ] + [("models", "model"), ("datasets", "dataset"), ("spaces", "space")].flatMap { kind, type -> [Route] in
        // A model is the default `repo_type`: not named, so these requests are the mount's too.
        let fixed = type == "model" ? [:] : ["repo_type": type]
        return [
            .parameters("/api/\(kind)/{repo_id+}", .named("\(type)_info")),
            .parameters("/api/\(kind)/{repo_id+}/revision/{revision}", .named("\(type)_info")),
            .parameters("/api/\(kind)/{repo_id+}/tree/{revision}", "list_repo_files", fixed: fixed),
            .parameters("/api/\(kind)/{repo_id+}/tree/{revision}/{path*}", "list_repo_files", fixed: fixed),
            .parameters("/api/\(kind)/{repo_id+}/commits/{revision}", "repo_commits", fixed: fixed),
        ]
    }, errorFormat: .message, streamContentType: "application/json")

    /// GitHub's REST API.
    static let gitHub = FamilyRoutes(routes: [
        .parameters("/user/repos", "list_repos"),
        .parameters("/orgs/{org}/repos", "list_repos"),
        .parameters("/users/{user}/repos", "list_repos"),
        .parameters("/repos/{owner}/{repo}/actions/runs", "workflow_runs"),
        .parameters("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", "workflow_runs"),
        .parameters("/orgs/{org}/actions/runners", "runners"),
        .parameters("/repos/{owner}/{repo}/actions/runners", "runners"),
    ], errorFormat: .gitHub, streamContentType: "application/json")
}
