import CidCacheCore
@testable import CidCacheHTTP
@testable import CidCacheUpstreams
import XCTest

/// Failures as HTTP: the errno table of docs/REFERENCE.md §5 as statuses, and each family's error body.
final class FailureMappingTests: XCTestCase {
    func testEachErrnoWithoutAnUpstreamAnswerHasAStatus() {
        let expected: [(CacheError.Kind, Int)] = [
            (.invalidRequest, 400), (.tooLarge, 413), (.accessDenied, 401), (.notFound, 404), (.busy, 503),
            (.timedOut, 504), (.offline, 503), (.io, 502), (.noSpace, 507),
        ]
        for (kind, status) in expected {
            XCTAssertEqual(FailureStatus.of(CacheError(kind, "x")), status, kind.rawValue)
        }
    }

    func testTheUpstreamsStatusWins() {
        XCTAssertEqual(FailureStatus.of(CacheError.forStatus(429, "slow down")), 429)
        XCTAssertEqual(FailureStatus.of(CacheError.forStatus(500, "boom")), 500)
        XCTAssertEqual(FailureStatus.of(CacheError(.busy, "rate limit", status: 403)), 403)
    }

    func testOpenAIErrorBody() throws {
        let body = ErrorFormat.openAI.body(for: CacheError(.invalidRequest, "the request must be a JSON object"), status: 400)
        let error = try XCTUnwrap(CanonicalJSON.parse(body).objectValue?["error"]?.objectValue)
        XCTAssertEqual(error["message"]?.stringValue, "cidcache: EINVAL: the request must be a JSON object")
        XCTAssertEqual(error["type"]?.stringValue, "invalid_request_error")
        XCTAssertEqual(error["code"]?.stringValue, "EINVAL")
        XCTAssertEqual(error["param"], .null)
    }

    func testAnthropicErrorBody() throws {
        let body = ErrorFormat.anthropic.body(for: CacheError(.timedOut, "upstream did not answer"), status: 504)
        let document = try XCTUnwrap(CanonicalJSON.parse(body).objectValue)
        XCTAssertEqual(document["type"]?.stringValue, "error")
        XCTAssertEqual(document["error"]?.objectValue?["type"]?.stringValue, "api_error")
        XCTAssertEqual(ErrorFormat.anthropicType(529), "overloaded_error")
        XCTAssertEqual(ErrorFormat.anthropicType(401), "authentication_error")
    }

    func testMessageErrorBody() throws {
        let body = ErrorFormat.message.body(for: CacheError(.offline, "offline mode and no live entry"), status: 503)
        XCTAssertEqual(try CanonicalJSON.parse(body).objectValue?["error"]?.stringValue,
                       "cidcache: ENETUNREACH: offline mode and no live entry")
    }

    func testGoogleAndGitHubErrorBodies() throws {
        let google = try XCTUnwrap(CanonicalJSON.parse(ErrorFormat.google.body(for: CacheError(.invalidRequest, "x"), status: 400))
            .objectValue?["error"]?.objectValue)
        XCTAssertEqual(google["status"]?.stringValue, "INVALID_ARGUMENT")
        XCTAssertEqual(google["code"]?.intValue, 400)
        let gitHub = try XCTUnwrap(CanonicalJSON.parse(ErrorFormat.gitHub.body(for: CacheError(.io, "y"), status: 502)).objectValue)
        XCTAssertEqual(gitHub["message"]?.stringValue, "cidcache: EIO: y")
    }
}
