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
struct HuggingFaceFamily: UpstreamFamily {
    public let name = "hf"
    public var isCredentialScoped: Bool { true }
    public var catalog: [UpstreamOperation] { Self.listed }
    /// 1000 calls per 5 minutes.
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("hf", url: "https://huggingface.co", urlVariables: ["HF_ENDPOINT"], keyVariables: ["HF_TOKEN"],
                          limits: UpstreamLimits(concurrent: 16, perMinute: 200))]
    }
    public var credentialPatterns: [String] { [CredentialPattern.prefixed(["hf"])] }
    static let listed = [
        info("model_info", kind: "models", ttl: 3600),
        operation("list_repo_files", ttl: 1800, routes: kindRoutes(["/tree/{revision}", "/tree/{revision}/{path*}"]),
                  // A file listing means every file: the tree is recursive unless asked otherwise.
                  trailingQuery: { $0.contains(key: "recursive") ? [] : [(name: "recursive", value: "true")] }) { request in
            var members = try repository(request, op: "list_repo_files")
            members["path"] = try RequestFields.optionalString(request, "path")
            return members
        },
        info("dataset_info", kind: "datasets", ttl: 3600),
        info("space_info", kind: "spaces", ttl: 1800),
        operation("list_models", ttl: 600, routes: [.parameters("/api/models")]) { _ in [:] },
        operation("list_datasets", ttl: 600, routes: [.parameters("/api/datasets")]) { _ in [:] },
        operation("model_tags", ttl: 1800, routes: [.parameters("/api/models-tags-by-type")]) { _ in [:] },
        operation("repo_commits", ttl: 300, routes: kindRoutes(["/commits/{revision}"])) { request in
            try repository(request, op: "repo_commits")
        },
    ]

    public init() {}

    /// The repository kinds: the path's and the `repo_type` that names it.
    static let kinds = [(path: "models", type: "model"), (path: "datasets", type: "dataset"), (path: "spaces", type: "space")]

    /// `/api/{kind}/{repo_id+}` and each of `tails` after it, for every kind.
    /// A model is the default `repo_type`: not named, so the HTTP front's
    /// requests are the mount's too.
    static func kindRoutes(_ tails: [String]) -> [OperationRoute] {
        kinds.flatMap { kind in
            tails.map { tail in
                .parameters("/api/\(kind.path)/{repo_id+}" + tail, fixed: kind.type == "model" ? [:] : ["repo_type": kind.type])
            }
        }
    }

    /// `repo_id`, the revision (`main` unless given) and a `repo_type` other than a model.
    static func repository(_ request: JSONObject, op: String) throws -> [String: String] {
        var members = ["repo_id": try RequestFields.string(request, "repo_id", op: op),
                       "revision": try RequestFields.optionalString(request, "revision") ?? defaultRevision]
        let type = try RequestFields.optionalString(request, "repo_type") ?? "model"
        guard kinds.contains(where: { $0.type == type }) else {
            throw CacheError(.invalidRequest, "\"repo_type\" must be \"model\", \"dataset\" or \"space\"")
        }
        if type != "model" { members["repo_type"] = type }
        return members
    }

    /// The branch the Hub's clients name when a caller gives none.
    static let defaultRevision = "main"
    /// How many tree pages `list_repo_files` follows at most.
    static let maxPages = 100

    /// A GET of the Hub's API at the route the request's path members
    /// select; the tree listing follows its pages.
    static func operation(_ name: String, ttl: Int, routes: [OperationRoute],
                          trailingQuery: @escaping @Sendable (JSONObject) -> [(name: String, value: String)] = { _ in [] },
                          members: @escaping @Sendable (JSONObject) throws -> [String: String]) -> UpstreamOperation {
        RESTCall.operation(name, ttl: ttl, routes: routes, headers: headers, members: members, trailingQuery: trailingQuery) { build in
            .paged(first: build) { first, _, client in
                try await fetchPages(first, joining: name == "list_repo_files", client: client)
            }
        }
    }

    /// `/api/{kind}/{repo_id}[/revision/{revision}]`. A revision is one path
    /// segment: `refs/pr/1` is sent as `refs%2Fpr%2F1`.
    static func info(_ name: String, kind: String, ttl: Int) -> UpstreamOperation {
        let routes: [OperationRoute] = [.parameters("/api/\(kind)/{repo_id+}"), .parameters("/api/\(kind)/{repo_id+}/revision/{revision}")]
        return operation(name, ttl: ttl, routes: routes) { request in
            ["repo_id": try RequestFields.string(request, "repo_id", op: name),
             "revision": try RequestFields.optionalString(request, "revision")].compactMapValues { $0 }
        }
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
