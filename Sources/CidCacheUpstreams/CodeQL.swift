import CidCacheCore

/// Code-scanning analyses of one commit through GitHub's REST API:
/// `GET {GITHUB_API_URL}/repos/{owner}/{repo}/code-scanning/analyses`, with
/// the github family's headers and token. `sha` (the full commit id) is
/// required; `ref`, `tool_name`, `tool_guid`, `pr` and `sarif_id` are sent as
/// query parameters. The pages (100 analyses each, newest first, at most
/// `maxPages`) are read until the commit's analyses are behind, and the answer
/// is a JSON array of the analyses whose `commit_sha` is `sha` (and whose
/// `category`, tool and language match when given), each with the bytes
/// GitHub sent. An analysis of a commit never changes: 24 h. No analysis of
/// the commit is ENOENT, so nothing is cached until one exists.
struct CodeQLFamily: UpstreamFamily {
    public let name = "codeql"
    public var isCredentialScoped: Bool { true }
    public var versionHeaders: [(name: String, value: String)] { GitHubAPI.versionHeaders }
    public let catalog: [UpstreamOperation]
    public var builtInNamespaces: [BuiltInNamespace] { [GitHubAPI.namespace("codeql")] }

    public init() {
        // An analysis of a commit never changes.
        var analyses = UpstreamOperation("analyses", ttl: .fixed(86_400), transport: .paged(first: Self.firstPage) { first, call, client in
            try await Self.fetchAnalyses(from: first, request: call.request, client: client)
        })
        analyses.validate = Self.validate
        analyses.mapError = GitHubAPI.rateLimitError
        catalog = [analyses]
    }

    static let maxPages = 10
    static let pageSize = 100
    /// Members filtered here rather than sent.
    static let localFields: Set<String> = ["owner", "repo", "sha", "category", "language"]
    /// Members sent as query parameters.
    static let queryFields: Set<String> = ["ref", "tool_name", "tool_guid", "pr", "sarif_id"]

    @Sendable static func validate(_ request: JSONObject) throws {
        let op = "analyses"
        _ = try GitHubAPI.repositoryPath(request, op: op)
        let sha = try RequestFields.string(request, "sha", op: op)
        guard [40, 64].contains(sha.utf8.count), sha.utf8.allSatisfy({ Self.isHex($0) }) else {
            throw CacheError(.invalidRequest, "\"sha\" must be a full commit id (40 or 64 hex digits)")
        }
        for field in ["category", "language", "ref", "tool_name", "tool_guid", "sarif_id"] {
            _ = try RequestFields.optionalString(request, field)
        }
        if let pr = request["pr"], !pr.isNull, (pr.intValue ?? 0) <= 0 {
            throw CacheError(.invalidRequest, "\"pr\" must be a pull request number")
        }
        let unknown = request.keys.filter { !Self.localFields.contains($0) && !Self.queryFields.contains($0) }
        if let field = unknown.first {
            throw CacheError(.invalidRequest, "analyses has no parameter \"\(field)\"")
        }
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// The first page's call.
    @Sendable static func firstPage(_ call: OperationCall) throws -> UpstreamHTTPRequest {
        let path = try GitHubAPI.repositoryPath(call.request, op: "analyses") + "/code-scanning/analyses"
        var query = try RESTCall.queryParameters(JSONObject(call.request.members.filter { Self.queryFields.contains($0.key) }), except: [])
        query.append((name: "per_page", value: String(Self.pageSize)))
        return UpstreamHTTPRequest(method: "GET", url: RESTCall.url(call.endpoint.url(path), query),
                                   headers: GitHubAPI.headers(call.endpoint), body: nil)
    }

    /// The analyses of the commit, from the first page on, as one JSON array.
    static func fetchAnalyses(from first: UpstreamHTTPRequest, request: JSONObject, client: UpstreamClient) async throws -> [UInt8] {
        var call = first
        var kept: [ArraySlice<UInt8>] = []
        for _ in 0..<Self.maxPages {
            let page = try await RESTCall.fetchPage(call, client: client, mapping: GitHubAPI.rateLimitError)
            guard let ranges = RESTCall.arrayElements(page.body) else {
                throw CacheError(.io, "the code-scanning answer is not a JSON array")
            }
            var matched = false
            for range in ranges {
                guard let analysis = WireFormat.json(Array(page.body[range]))?.objectValue else {
                    throw CacheError(.io, "a code-scanning analysis is not a JSON object")
                }
                if Self.matches(analysis, request) {
                    kept.append(page.body[range])
                    matched = true
                }
            }
            // Newest first: a page without the commit after one with it means the rest is older.
            if !kept.isEmpty && !matched { break }
            guard let link = page.next, let next = LinkHeader.nextPage(of: call.url, link: link) else { break }
            call.url = next
        }
        guard !kept.isEmpty else {
            throw CacheError(.notFound, "no code-scanning analysis of commit \(request["sha"]?.stringValue ?? "")")
        }
        return RESTCall.joinedArray(kept)
    }

    /// Whether an analysis is of the commit asked for, with the category, tool and language asked for.
    static func matches(_ analysis: JSONObject, _ request: JSONObject) -> Bool {
        guard let sha = request["sha"]?.stringValue,
              analysis["commit_sha"]?.stringValue?.lowercased() == sha.lowercased() else { return false }
        if let category = request["category"]?.stringValue, analysis["category"]?.stringValue != category { return false }
        if let tool = request["tool_name"]?.stringValue, let name = analysis["tool"]?["name"]?.stringValue, name != tool {
            return false
        }
        if let guid = request["tool_guid"]?.stringValue, let found = analysis["tool"]?["guid"]?.stringValue, found != guid {
            return false
        }
        if let language = request["language"]?.stringValue, Self.language(of: analysis) != language { return false }
        return true
    }

    /// The language an analysis covers: the `language` of its `environment`
    /// (a JSON text such as `{"language":"python"}`), else the
    /// `/language:python` of its CodeQL category.
    static func language(of analysis: JSONObject) -> String? {
        if let environment = analysis["environment"]?.stringValue,
           let language = WireFormat.json(Array(environment.utf8))?["language"]?.stringValue {
            return language
        }
        guard let category = analysis["category"]?.stringValue else { return nil }
        let marker = Array("language:".utf8), bytes = Array(category.utf8)
        guard bytes.count >= marker.count,
              let start = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        else { return nil }
        let rest = bytes[(start + marker.count)...].prefix { ![UInt8(ascii: "/"), UInt8(ascii: ","), UInt8(ascii: " ")].contains($0) }
        return String(decoding: rest, as: UTF8.self)
    }
}
