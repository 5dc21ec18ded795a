import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class CodeQLFamilyTests: XCTestCase {
    private let family = CodeQLFamily()
    private let sha = "9a1e3b07c6d5f5f9a0b4e2d1c3f4a5b6c7d8e9f0"

    func testRequest() throws {
        let text = #"{"owner":"o","repo":"r","sha":"\#(sha)","ref":"refs/heads/main","tool_name":"CodeQL","language":"python"}"#
        let request = try object(text)
        try family[op: "analyses"].validate(request)
        let call = try family[op: "analyses"].httpRequest(request, body: Array(text.utf8),
                                          endpoint: Endpoint(baseURL: "https://api.github.com", credential: "test-github-token"))
        XCTAssertEqual(call.method, "GET")
        XCTAssertEqual(call.url, "https://api.github.com/repos/o/r/code-scanning/analyses?ref=refs%2Fheads%2Fmain&tool_name=CodeQL&per_page=100")
        XCTAssertEqual(call.header("authorization"), "Bearer test-github-token")
        XCTAssertEqual(call.header("x-github-api-version"), "2022-11-28")
        XCTAssertEqual(call.header("accept"), "application/vnd.github+json")
        XCTAssertEqual(family[op: "analyses"].defaultTTL(request), 86_400)
        XCTAssertEqual(family.operations, ["analyses"])
    }

    func testValidation() throws {
        for bad in [#"{"repo":"o/r"}"#, #"{"repo":"o/r","sha":"abc"}"#, #"{"repo":"o/r","sha":"\#(sha)x"}"#,
                    #"{"sha":"\#(sha)"}"#, #"{"repo":"o/r","sha":"\#(sha)","language":3}"#,
                    #"{"repo":"o/r","sha":"\#(sha)","pr":0}"#, #"{"repo":"o/r","sha":"\#(sha)","per_page":5}"#] {
            XCTAssertThrowsError(try family[op: "analyses"].validate(try object(bad)), bad) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, bad)
            }
        }
        XCTAssertNoThrow(try family[op: "analyses"].validate(try object(#"{"repo":"o/r","sha":"\#(sha.uppercased())","pr":12}"#)))
    }

    func testFilter() throws {
        let request = try object(#"{"repo":"o/r","sha":"\#(sha)"}"#)
        let python = try object(#"{"commit_sha":"\#(sha)","category":"/language:python","environment":"{\"language\":\"python\"}","tool":{"name":"CodeQL","guid":null}}"#)
        let js = try object(#"{"commit_sha":"\#(sha)","category":"/language:javascript-typescript","environment":"{}","tool":{"name":"CodeQL"}}"#)
        let other = try object(#"{"commit_sha":"0000000000000000000000000000000000000000","category":"/language:python","tool":{"name":"CodeQL"}}"#)
        XCTAssertTrue(CodeQLFamily.matches(python, request))
        XCTAssertTrue(CodeQLFamily.matches(js, request))
        XCTAssertFalse(CodeQLFamily.matches(other, request))
        let byLanguage = try object(#"{"repo":"o/r","sha":"\#(sha)","language":"javascript-typescript"}"#)
        XCTAssertFalse(CodeQLFamily.matches(python, byLanguage))
        XCTAssertTrue(CodeQLFamily.matches(js, byLanguage))
        let byCategory = try object(#"{"repo":"o/r","sha":"\#(sha)","category":"/language:python"}"#)
        XCTAssertTrue(CodeQLFamily.matches(python, byCategory))
        XCTAssertFalse(CodeQLFamily.matches(js, byCategory))
        let byTool = try object(#"{"repo":"o/r","sha":"\#(sha)","tool_name":"Semgrep"}"#)
        XCTAssertFalse(CodeQLFamily.matches(python, byTool))
        XCTAssertEqual(CodeQLFamily.language(of: try object(#"{"category":"/language:go/custom"}"#)), "go")
    }

    func testRateLimitIsBusy() throws {
        XCTAssertEqual(family[op: "analyses"].mappedError(status: 403, headers: [("x-ratelimit-remaining", "0")], body: [])?.kind, .busy)
        XCTAssertNil(family[op: "analyses"].mappedError(status: 403, headers: [], body: Array(#"{"message":"Advanced Security must be enabled"}"#.utf8)))
        XCTAssertTrue(family.isCredentialScoped)
    }
}
