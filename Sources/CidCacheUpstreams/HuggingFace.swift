import CidCacheCore

/// The Hugging Face Hub's REST API (`GET {HF_ENDPOINT}/api/...`), with
/// `HF_TOKEN` as an optional bearer token. A request names the path
/// parameters of its operation (`repo_id`, `revision`, `repo_type`, `path`);
/// every other member is sent as a query parameter of the same name (an array
/// repeats it: `{"filter": ["a", "b"]}` is `filter=a&filter=b`).
///
/// The answer is the Hub's JSON as sent; `list_repo_files` follows the tree
/// listing's `Link: rel="next"` pages and joins them into one array, every
/// entry with the bytes the Hub sent. Answers depend on the token (private and
/// gated repos), so entries are scoped by it.
public struct HuggingFaceFamily: UpstreamFamily {
    public let name = "hf"
    public var isCredentialScoped: Bool { true }
    public var catalog: [UpstreamOperation] { Self.listed }
    static let listed = [
        info("model_info", kind: "models", ttl: 3600),
        operation("list_repo_files", ttl: 1800, pathFields: ["repo_id", "revision", "repo_type", "path"]) { request in
            var path = "/api/\(try repoKind(request))/\(try repo(request, op: "list_repo_files"))/tree/\(try revision(request) ?? defaultRevision)"
            if let folder = try RequestFields.optionalString(request, "path") {
                path += "/" + (try WireFormat.pathSegment(folder, field: "path"))
            }
            // A file listing means every file: the tree is recursive unless asked otherwise.
            let recursive = request.contains(key: "recursive") ? [] : [(name: "recursive", value: "true")]
            return RESTCall.Route(path: path, trailingQuery: recursive)
        },
        info("dataset_info", kind: "datasets", ttl: 3600),
        info("space_info", kind: "spaces", ttl: 1800),
        operation("list_models", ttl: 600, pathFields: []) { _ in RESTCall.Route(path: "/api/models") },
        operation("list_datasets", ttl: 600, pathFields: []) { _ in RESTCall.Route(path: "/api/datasets") },
        operation("model_tags", ttl: 1800, pathFields: []) { _ in RESTCall.Route(path: "/api/models-tags-by-type") },
        operation("repo_commits", ttl: 300, pathFields: ["repo_id", "revision", "repo_type"]) { request in
            let repo = try repo(request, op: "repo_commits")
            return RESTCall.Route(path: "/api/\(try repoKind(request))/\(repo)/commits/\(try revision(request) ?? defaultRevision)")
        },
    ]

    public init() {}

    /// The branch the Hub's clients name when a caller gives none.
    static let defaultRevision = "main"
    /// How many tree pages `list_repo_files` follows at most.
    static let maxPages = 100

    /// A GET of the Hub's API; the tree listing follows its pages.
    static func operation(_ name: String, ttl: Int, pathFields: Set<String>,
                          route: @escaping @Sendable (JSONObject) throws -> RESTCall.Route) -> UpstreamOperation {
        RESTCall.operation(name, ttl: ttl, pathFields: pathFields, headers: headers, route: route) { build in
            .paged(first: build) { first, _, client in
                try await fetchPages(first, joining: name == "list_repo_files", client: client)
            }
        }
    }

    /// `/api/{kind}/{repo_id}[/revision/{revision}]`.
    static func info(_ name: String, kind: String, ttl: Int) -> UpstreamOperation {
        operation(name, ttl: ttl, pathFields: ["repo_id", "revision"]) { request in
            var path = "/api/\(kind)/\(try repo(request, op: name))"
            if let revision = try revision(request) { path += "/revision/\(revision)" }
            return RESTCall.Route(path: path)
        }
    }

    /// `models`, `datasets` or `spaces` for `repo_type` (default model).
    static func repoKind(_ request: JSONObject) throws -> String {
        switch try RequestFields.optionalString(request, "repo_type") ?? "model" {
        case "model": return "models"
        case "dataset": return "datasets"
        case "space": return "spaces"
        default: throw CacheError(.invalidRequest, "\"repo_type\" must be \"model\", \"dataset\" or \"space\"")
        }
    }

    static func repo(_ request: JSONObject, op: String) throws -> String {
        try RESTCall.repositoryPath(try RequestFields.string(request, "repo_id", op: op), field: "repo_id")
    }

    /// A revision is one path segment: `refs/pr/1` is sent as `refs%2Fpr%2F1`.
    static func revision(_ request: JSONObject) throws -> String? {
        try RequestFields.optionalString(request, "revision").map { try WireFormat.pathSegment($0, field: "revision") }
    }

    static func headers(_ endpoint: Endpoint) -> [(name: String, value: String)] {
        [(name: "Accept", value: "application/json"), (name: "User-Agent", value: "cidcache")]
            + WireFormat.bearer(endpoint.credential)
    }

    /// One page, or (`joining`) every page of a tree listing joined into one
    /// array of the entries as sent.
    static func fetchPages(_ first: UpstreamHTTPRequest, joining: Bool, client: UpstreamClient) async throws -> [UInt8] {
        var call = first
        var page = try await RESTCall.fetchPage(call, client: client)
        guard joining, page.next != nil else { return page.body }
        var entries: [ArraySlice<UInt8>] = []
        var pages = 0
        while true {
            guard let ranges = RESTCall.arrayElements(page.body) else {
                throw CacheError(.io, "the Hub's tree page is not a JSON array")
            }
            entries += ranges.map { page.body[$0] }
            pages += 1
            guard let link = page.next, let next = LinkHeader.nextPage(of: call.url, link: link) else { break }
            guard pages < maxPages else {
                throw CacheError(.io, "the tree has more than \(maxPages) pages")
            }
            call.url = next
            page = try await RESTCall.fetchPage(call, client: client)
        }
        return RESTCall.joinedArray(entries)
    }
}
