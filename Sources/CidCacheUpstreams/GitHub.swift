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
public struct GitHubFamily: UpstreamFamily {
    public let name = "github"
    public var isCredentialScoped: Bool { true }
    public var versionHeaders: [(name: String, value: String)] { GitHubAPI.versionHeaders }
    public var catalog: [UpstreamOperation] { Self.listed }
    static let listed = [
        operation("list_repos", ttl: 300, pathFields: ["org", "user"]) { request in
            let org = try RequestFields.optionalString(request, "org")
            let user = try RequestFields.optionalString(request, "user")
            switch (org, user) {
            case (let org?, nil): return "/orgs/\(try WireFormat.pathSegment(org, field: "org"))/repos"
            case (nil, let user?): return "/users/\(try WireFormat.pathSegment(user, field: "user"))/repos"
            case (nil, nil): return "/user/repos"
            default: throw CacheError(.invalidRequest, "list_repos takes \"org\" or \"user\", not both")
            }
        },
        operation("workflow_runs", ttl: 60, pathFields: ["owner", "repo", "workflow_id"]) { request in
            let path = try GitHubAPI.repositoryPath(request, op: "workflow_runs")
            if let workflow = try WireFormat.numberOrNameSegment(request, "workflow_id", minimum: 1,
                                                                 expected: "a workflow's id or file name") {
                return path + "/actions/workflows/\(workflow)/runs"
            }
            return path + "/actions/runs"
        },
        operation("runners", ttl: 30, pathFields: ["owner", "repo", "org"]) { request in
            if let org = try RequestFields.optionalString(request, "org") {
                guard request["repo"] == nil, request["owner"] == nil else {
                    throw CacheError(.invalidRequest, "runners takes \"org\" or a repository, not both")
                }
                return "/orgs/\(try WireFormat.pathSegment(org, field: "org"))/actions/runners"
            }
            return try GitHubAPI.repositoryPath(request, op: "runners") + "/actions/runners"
        },
    ]

    public init() {}

    /// A GET of the path `path` makes of the request, the other members as query parameters.
    static func operation(_ name: String, ttl: Int, pathFields: Set<String>,
                          path: @escaping @Sendable (JSONObject) throws -> String) -> UpstreamOperation {
        var operation = RESTCall.operation(name, ttl: ttl, pathFields: pathFields, headers: GitHubAPI.headers) { request in
            RESTCall.Route(path: try path(request))
        }
        operation.mapError = GitHubAPI.rateLimitError
        return operation
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
        let repo = try RequestFields.string(request, "repo", op: op)
        if let owner = try RequestFields.optionalString(request, "owner") {
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
