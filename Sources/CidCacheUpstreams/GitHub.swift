import CidCacheCore

/// GitHub's REST API (`GET {GITHUB_API_URL}/...`) with `GH_TOKEN` or
/// `GITHUB_TOKEN` as a bearer token, `Accept: application/vnd.github+json` and
/// `X-GitHub-Api-Version: 2022-11-28` (part of the upstream identity). A
/// request names the path parameters of its operation (`owner`, `repo`,
/// `org`, `user`, `workflow_id`); every other member is sent as a query
/// parameter (`per_page`, `page`, `branch`, `status`, ...). One page is one
/// answer, GitHub's JSON as sent.
///
/// A rate-limited answer (403 or 429 with `x-ratelimit-remaining: 0`, a
/// `retry-after`, or a "rate limit" message) means busy, not refused, so an
/// expired entry within the stale window is served instead.
public struct GitHubFamily: UpstreamFamily, ErrorMappingFamily {
    public init() {}

    public let name = "github"
    public let operations = ["list_repos", "workflow_runs", "runners"]
    public var isCredentialScoped: Bool { true }
    public var versionHeaders: [(name: String, value: String)] { GitHubAPI.versionHeaders }

    public func droppedFields(op: String) -> Set<String> { [] }

    static func pathFields(_ op: String) -> Set<String> {
        switch op {
        case "list_repos": return ["org", "user"]
        case "workflow_runs": return ["owner", "repo", "workflow_id"]
        case "runners": return ["owner", "repo", "org"]
        default: return []
        }
    }

    public func validate(op: String, request: JSONObject) throws {
        _ = try Self.path(op: op, request: request)
        try RESTCall.validateQuery(request, except: Self.pathFields(op))
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        switch op {
        case "list_repos": return 300
        case "workflow_runs": return 60
        default: return 30
        }
    }

    static func path(op: String, request: JSONObject) throws -> String {
        switch op {
        case "list_repos":
            let org = try RESTCall.optionalString(request, "org")
            let user = try RESTCall.optionalString(request, "user")
            switch (org, user) {
            case (let org?, nil): return "/orgs/\(try WireFormat.pathSegment(org, field: "org"))/repos"
            case (nil, let user?): return "/users/\(try WireFormat.pathSegment(user, field: "user"))/repos"
            case (nil, nil): return "/user/repos"
            default: throw CacheError(.invalidRequest, "list_repos takes \"org\" or \"user\", not both")
            }
        case "workflow_runs":
            var path = try GitHubAPI.repositoryPath(request, op: op)
            if let workflow = try WireFormat.numberOrNameSegment(request, "workflow_id", minimum: 1,
                                                                 expected: "a workflow's id or file name") {
                path += "/actions/workflows/\(workflow)"
            } else {
                path += "/actions"
            }
            return path + "/runs"
        case "runners":
            if let org = try RESTCall.optionalString(request, "org") {
                guard request["repo"] == nil, request["owner"] == nil else {
                    throw CacheError(.invalidRequest, "runners takes \"org\" or a repository, not both")
                }
                return "/orgs/\(try WireFormat.pathSegment(org, field: "org"))/actions/runners"
            }
            return try GitHubAPI.repositoryPath(request, op: op) + "/actions/runners"
        default:
            throw CacheError(.notFound, "unknown operation \(op)")
        }
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        let query = try RESTCall.queryParameters(request, except: Self.pathFields(op))
        let url = RESTCall.url(endpoint.url(try Self.path(op: op, request: request)), query)
        return UpstreamHTTPRequest(method: "GET", url: url, headers: GitHubAPI.headers(endpoint), body: nil)
    }

    public func error(op: String, status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        GitHubAPI.rateLimitError(status: status, headers: headers, body: body)
    }
}

/// What the GitHub-backed families (github, codeql) share.
enum GitHubAPI {
    static let apiVersion = "2022-11-28"
    static let versionHeaders = [(name: "X-GitHub-Api-Version", value: apiVersion)]

    /// GitHub refuses calls without a `User-Agent`.
    static func headers(_ endpoint: Endpoint) -> [(name: String, value: String)] {
        [(name: "Accept", value: "application/vnd.github+json"), (name: "User-Agent", value: "cidcache")]
            + versionHeaders + WireFormat.bearer(endpoint.credential)
    }

    /// `/repos/{owner}/{repo}` from `owner` and `repo`, or from `repo` alone as `owner/name`.
    static func repositoryPath(_ request: JSONObject, op: String) throws -> String {
        let repo = try RESTCall.requiredString(request, "repo", op: op)
        if let owner = try RESTCall.optionalString(request, "owner") {
            return "/repos/\(try WireFormat.pathSegment(owner, field: "owner"))/\(try WireFormat.pathSegment(repo, field: "repo"))"
        }
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw CacheError(.invalidRequest, "\(op) requires \"owner\" and \"repo\", or \"repo\" as \"owner/name\"")
        }
        return "/repos/" + (try parts.map { try WireFormat.pathSegment(String($0), field: "repo") }.joined(separator: "/"))
    }

    /// Busy (EBUSY, or a stale answer) when a 403 or 429 says the rate limit
    /// ran out: `x-ratelimit-remaining: 0`, a `retry-after` (secondary
    /// limits), or a message about a rate limit. Nil otherwise.
    static func rateLimitError(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        guard status == 403 || status == 429 else { return nil }
        func header(_ name: String) -> String? { HTTPHeader.value(name, in: headers)?.trimmingSpaces }
        let message = WireFormat.errorMessage(body)
        let limited = header("x-ratelimit-remaining") == "0" || header("retry-after") != nil
            || message.lowercased().contains("rate limit")
        guard limited else { return nil }
        var text = "GitHub rate limit (\(status)): \(message)"
        if let reset = header("x-ratelimit-reset") { text += "; resets at \(reset)" }
        return CacheError(.busy, text, status: status)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
