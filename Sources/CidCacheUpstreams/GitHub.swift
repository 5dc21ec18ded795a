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
struct GitHubFamily: UpstreamFamily {
    public let name = "github"
    public var isCredentialScoped: Bool { true }
    public var versionHeaders: [(name: String, value: String)] { GitHubAPI.versionHeaders }
    public var catalog: [UpstreamOperation] { Self.listed }
    public var errorFormat: ErrorFormat { .gitHub }
    /// gh's precedence: GH_TOKEN before GITHUB_TOKEN; 5000 calls an hour.
    public var builtInNamespaces: [BuiltInNamespace] { [GitHubAPI.namespace("github")] }
    public var credentialPatterns: [String] { [CredentialPattern.prefixed(["ghp", "gho", "ghs", "github_pat"])] }
    static let listed = [
        operation("list_repos", ttl: 300, routes: [
            .parameters("/user/repos"), .parameters("/orgs/{org}/repos"), .parameters("/users/{user}/repos"),
        ]) { request in
            let org = try RequestFields.optionalString(request, "org")
            let user = try RequestFields.optionalString(request, "user")
            guard org == nil || user == nil else {
                throw CacheError(.invalidRequest, "list_repos takes \"org\" or \"user\", not both")
            }
            return ["org": org, "user": user].compactMapValues { $0 }
        },
        operation("workflow_runs", ttl: 60, routes: [
            .parameters("/repos/{owner}/{repo}/actions/runs"),
            .parameters("/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs"),
        ]) { request in
            var members = try GitHubAPI.repository(request, op: "workflow_runs")
            members["workflow_id"] = try WireFormat.numberOrName(request, "workflow_id", minimum: 1,
                                                                expected: "a workflow's id or file name")
            return members
        },
        operation("runners", ttl: 30, routes: [
            .parameters("/orgs/{org}/actions/runners"), .parameters("/repos/{owner}/{repo}/actions/runners"),
        ]) { request in
            if let org = try RequestFields.optionalString(request, "org") {
                guard request["repo"] == nil, request["owner"] == nil else {
                    throw CacheError(.invalidRequest, "runners takes \"org\" or a repository, not both")
                }
                return ["org": org]
            }
            return try GitHubAPI.repository(request, op: "runners")
        },
    ]

    public init() {}

    /// A GET of the route the request's path members select, the other members as query parameters.
    static func operation(_ name: String, ttl: Int, routes: [OperationRoute],
                          members: @escaping @Sendable (JSONObject) throws -> [String: String]) -> UpstreamOperation {
        var operation = RESTCall.operation(name, ttl: ttl, routes: routes, headers: GitHubAPI.headers, members: members)
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

    /// A GitHub-backed namespace at `GITHUB_API_URL` with gh's tokens (GH_TOKEN
    /// before GITHUB_TOKEN), limited to 5000 calls an hour.
    static func namespace(_ name: String) -> BuiltInNamespace {
        BuiltInNamespace(name, url: "https://api.github.com", urlVariables: ["GITHUB_API_URL"],
                         keyVariables: ["GH_TOKEN", "GITHUB_TOKEN"], limits: UpstreamLimits(concurrent: 8, perMinute: 80))
    }

    /// `owner` and `repo`, or both from `repo` alone as `owner/name`.
    static func repository(_ request: JSONObject, op: String) throws -> [String: String] {
        let repo = try RequestFields.string(request, "repo", op: op)
        if let owner = try RequestFields.optionalString(request, "owner") { return ["owner": owner, "repo": repo] }
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw CacheError(.invalidRequest, "\(op) requires \"owner\" and \"repo\", or \"repo\" as \"owner/name\"")
        }
        return ["owner": String(parts[0]), "repo": String(parts[1])]
    }

    /// `/repos/{owner}/{repo}` of the request's repository.
    static func repositoryPath(_ request: JSONObject, op: String) throws -> String {
        try repositoryPattern.path(try repository(request, op: op))
    }

    private static let repositoryPattern = RoutePattern("/repos/{owner}/{repo}")

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
