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
public struct HuggingFaceFamily: SelfFetchingFamily {
    public init() {}

    public let name = "hf"
    public let operations = ["model_info", "list_repo_files", "dataset_info", "space_info",
                             "list_models", "list_datasets", "model_tags", "repo_commits"]
    public var isCredentialScoped: Bool { true }

    /// The branch the Hub's clients name when a caller gives none.
    static let defaultRevision = "main"
    /// How many tree pages `list_repo_files` follows at most.
    static let maxPages = 100

    public func droppedFields(op: String) -> Set<String> { [] }

    /// The members that fill the path, not the query.
    static func pathFields(_ op: String) -> Set<String> {
        switch op {
        case "model_info", "dataset_info", "space_info": return ["repo_id", "revision"]
        case "list_repo_files": return ["repo_id", "revision", "repo_type", "path"]
        case "repo_commits": return ["repo_id", "revision", "repo_type"]
        default: return []
        }
    }

    public func validate(op: String, request: JSONObject) throws {
        _ = try Self.path(op: op, request: request)
        try RESTCall.validateQuery(request, except: Self.pathFields(op))
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        switch op {
        case "model_info", "dataset_info": return 3600
        case "list_repo_files", "space_info", "model_tags": return 1800
        case "list_models", "list_datasets": return 600
        case "repo_commits": return 300
        default: return 600
        }
    }

    /// `/api/{models|datasets|spaces}` for `repo_type` (default model).
    static func repoKind(_ request: JSONObject) throws -> String {
        switch try RESTCall.optionalString(request, "repo_type") ?? "model" {
        case "model": return "models"
        case "dataset": return "datasets"
        case "space": return "spaces"
        default: throw CacheError(.invalidRequest, "\"repo_type\" must be \"model\", \"dataset\" or \"space\"")
        }
    }

    /// The URL path of a request, after the base URL.
    static func path(op: String, request: JSONObject) throws -> String {
        func repo() throws -> String {
            try RESTCall.repositoryPath(try RESTCall.requiredString(request, "repo_id", op: op), field: "repo_id")
        }
        // A revision is one path segment: `refs/pr/1` is sent as `refs%2Fpr%2F1`.
        func revision(orDefault fallback: String?) throws -> String? {
            try (RESTCall.optionalString(request, "revision") ?? fallback).map { try WireFormat.pathSegment($0, field: "revision") }
        }
        switch op {
        case "model_info", "dataset_info", "space_info":
            let kind = ["model_info": "models", "dataset_info": "datasets", "space_info": "spaces"][op]!
            var path = "/api/\(kind)/\(try repo())"
            if let revision = try revision(orDefault: nil) { path += "/revision/\(revision)" }
            return path
        case "list_repo_files":
            var path = "/api/\(try repoKind(request))/\(try repo())/tree/\(try revision(orDefault: defaultRevision)!)"
            if let folder = try RESTCall.optionalString(request, "path") {
                path += "/" + (try WireFormat.pathSegment(folder, field: "path"))
            }
            return path
        case "repo_commits":
            return "/api/\(try repoKind(request))/\(try repo())/commits/\(try revision(orDefault: defaultRevision)!)"
        case "list_models": return "/api/models"
        case "list_datasets": return "/api/datasets"
        case "model_tags": return "/api/models-tags-by-type"
        default: throw CacheError(.notFound, "unknown operation \(op)")
        }
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        var query = try RESTCall.queryParameters(request, except: Self.pathFields(op))
        // A file listing means every file: the tree is recursive unless asked otherwise.
        if op == "list_repo_files", !request.contains(key: "recursive") {
            query.append((name: "recursive", value: "true"))
        }
        let url = RESTCall.url(endpoint.url(try Self.path(op: op, request: request)), query)
        return UpstreamHTTPRequest(method: "GET", url: url, headers: Self.headers(endpoint), body: nil)
    }

    static func headers(_ endpoint: Endpoint) -> [(name: String, value: String)] {
        [(name: "Accept", value: "application/json"), (name: "User-Agent", value: "cidcache")]
            + WireFormat.bearer(endpoint.credential)
    }

    public func fetch(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint,
                      client: UpstreamClient) async throws -> [UInt8] {
        var call = try httpRequest(op: op, request: request, body: body, endpoint: endpoint)
        var page = try await RESTCall.fetchPage(call, client: client, mapping: nil, op: op)
        guard op == "list_repo_files", page.next != nil else { return page.body }
        // Every page of the tree, joined into one array of the entries as sent.
        var entries: [ArraySlice<UInt8>] = []
        var pages = 0
        while true {
            guard let ranges = RESTCall.arrayElements(page.body) else {
                throw CacheError(.io, "the Hub's tree page is not a JSON array")
            }
            entries += ranges.map { page.body[$0] }
            pages += 1
            guard let link = page.next, let next = LinkHeader.nextPage(of: call.url, link: link) else { break }
            guard pages < Self.maxPages else {
                throw CacheError(.io, "the tree has more than \(Self.maxPages) pages")
            }
            call.url = next
            page = try await RESTCall.fetchPage(call, client: client, mapping: nil, op: op)
        }
        return RESTCall.joinedArray(entries)
    }
}
