import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class GitHubFamilyTests: XCTestCase {
    private let family = GitHubFamily()
    private let api = Endpoint(baseURL: "https://api.github.com", credential: "test-github-token")

    private func url(_ op: String, _ request: String) throws -> String {
        let parsed = try object(request)
        try family[op: op].validate(parsed)
        return try family[op: op].httpRequest(parsed, body: Array(request.utf8), endpoint: api).url
    }

    func testPaths() throws {
        XCTAssertEqual(try url("list_repos", "{}"), "https://api.github.com/user/repos")
        XCTAssertEqual(try url("list_repos", #"{"org":"octo-org","type":"private","per_page":50}"#),
                       "https://api.github.com/orgs/octo-org/repos?type=private&per_page=50")
        XCTAssertEqual(try url("list_repos", #"{"user":"octo cat"}"#), "https://api.github.com/users/octo%20cat/repos")
        XCTAssertEqual(try url("workflow_runs", #"{"owner":"o","repo":"r","branch":"feature/x","status":"completed","per_page":10}"#),
                       "https://api.github.com/repos/o/r/actions/runs?branch=feature%2Fx&status=completed&per_page=10")
        XCTAssertEqual(try url("workflow_runs", #"{"repo":"o/r"}"#), "https://api.github.com/repos/o/r/actions/runs")
        XCTAssertEqual(try url("workflow_runs", #"{"repo":"o/r","workflow_id":"ci.yml"}"#),
                       "https://api.github.com/repos/o/r/actions/workflows/ci.yml/runs")
        XCTAssertEqual(try url("workflow_runs", #"{"repo":"o/r","workflow_id":161335}"#),
                       "https://api.github.com/repos/o/r/actions/workflows/161335/runs")
        XCTAssertEqual(try url("runners", #"{"owner":"o","repo":"r"}"#), "https://api.github.com/repos/o/r/actions/runners")
        XCTAssertEqual(try url("runners", #"{"org":"o","per_page":100}"#), "https://api.github.com/orgs/o/actions/runners?per_page=100")
    }

    func testHeaders() throws {
        let request = try family[op: "list_repos"].httpRequest(JSONObject(), body: [], endpoint: api)
        XCTAssertEqual(request.method, "GET")
        XCTAssertNil(request.body)
        XCTAssertEqual(request.header("authorization"), "Bearer test-github-token")
        XCTAssertEqual(request.header("accept"), "application/vnd.github+json")
        XCTAssertEqual(request.header("x-github-api-version"), "2022-11-28")
        XCTAssertNotNil(request.header("user-agent"))
        XCTAssertEqual(family.versionHeaders.map(\.value), ["2022-11-28"])
        let anonymous = try family[op: "list_repos"].httpRequest(try object(#"{"user":"u"}"#), body: [],
                                               endpoint: Endpoint(baseURL: "https://ghe.example/api/v3/", credential: nil))
        XCTAssertEqual(anonymous.url, "https://ghe.example/api/v3/users/u/repos")
        XCTAssertNil(anonymous.header("authorization"))
    }

    func testValidation() throws {
        let bad: [(String, String)] = [
            ("list_repos", #"{"org":"a","user":"b"}"#), ("list_repos", #"{"org":""}"#), ("list_repos", #"{"org":1}"#),
            ("workflow_runs", "{}"), ("workflow_runs", #"{"repo":"r"}"#), ("workflow_runs", #"{"repo":"a/b/c"}"#),
            ("workflow_runs", #"{"owner":"o","repo":".."}"#), ("workflow_runs", #"{"repo":"o/r","workflow_id":true}"#),
            ("workflow_runs", #"{"repo":"o/r","branch":{"x":1}}"#),
            ("runners", "{}"), ("runners", #"{"org":"o","repo":"o/r"}"#),
        ]
        for (op, request) in bad {
            XCTAssertThrowsError(try family[op: op].validate(try object(request)), "\(op) \(request)") {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, "\(op) \(request)")
            }
        }
    }

    func testTTLs() {
        XCTAssertEqual(family.operations, ["list_repos", "workflow_runs", "runners"])
        XCTAssertEqual(family[op: "list_repos"].defaultTTL(JSONObject()), 300)
        XCTAssertEqual(family[op: "workflow_runs"].defaultTTL(JSONObject()), 60)
        XCTAssertEqual(family[op: "runners"].defaultTTL(JSONObject()), 30)
    }

    func testRateLimitIsBusy() {
        let limited = Array(#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#.utf8)
        let primary = family[op: "list_repos"].mappedError(status: 403,
                                   headers: [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1700000000")], body: limited)
        XCTAssertEqual(primary?.kind, .busy)
        XCTAssertEqual(primary?.status, 403)
        XCTAssertEqual(primary?.errno, EBUSY)
        XCTAssertEqual(family[op: "runners"].mappedError(status: 429, headers: [("Retry-After", "60")], body: [])?.kind, .busy)
        XCTAssertEqual(family[op: "runners"].mappedError(status: 403, headers: [("retry-after", "30")],
                                    body: Array(#"{"message":"You have exceeded a secondary rate limit."}"#.utf8))?.kind, .busy)
        // A refusal that is not about the rate limit keeps its default (EACCES), as do other statuses.
        let forbidden = Array(#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}"#.utf8)
        XCTAssertNil(family[op: "runners"].mappedError(status: 403, headers: [("x-ratelimit-remaining", "4999")], body: forbidden))
        XCTAssertNil(family[op: "runners"].mappedError(status: 404, headers: [("x-ratelimit-remaining", "0")], body: []))
        XCTAssertEqual(CacheError.forStatus(403, "x").kind, .accessDenied)
    }
}
