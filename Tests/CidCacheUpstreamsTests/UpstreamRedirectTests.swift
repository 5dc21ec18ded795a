import AsyncHTTPClient
import CidCacheCore
@testable import CidCacheUpstreams
import Glibc
import NIOCore
import XCTest

/// What a redirected upstream call sends next: credentials stay with their origin.
final class UpstreamRedirectTests: XCTestCase {
    private let credentialed = UpstreamHTTPRequest(
        method: "POST", url: "https://api.example/v1/messages",
        headers: [(name: "Content-Type", value: "application/json"), (name: "x-api-key", value: "secret"),
                  (name: "Authorization", value: "Bearer secret"), (name: "anthropic-version", value: "2023-06-01"),
                  (name: "x-amz-security-token", value: "secret"), (name: "Cookie", value: "a=secret")],
        body: Array("{}".utf8))

    private func names(_ request: UpstreamHTTPRequest) -> [String] { request.headers.map { $0.name.lowercased() } }

    func testAnotherOriginGetsNoCredential() throws {
        for location in ["http://api.example/v1/messages", "https://other.example/v1/messages",
                         "https://api.example:8443/v1/messages", "//other.example/x"] {
            for status in [301, 302, 303, 307, 308] {
                let next = try UpstreamRedirect.next(after: credentialed, status: status, location: location)
                XCTAssertFalse(next.headers.contains { $0.value.contains("secret") }, "\(status) \(location): \(names(next))")
            }
        }
    }

    func testTheSameOriginKeepsEverything() throws {
        let next = try UpstreamRedirect.next(after: credentialed, status: 307, location: "/v1/messages/moved")
        XCTAssertEqual(next.url, "https://api.example/v1/messages/moved")
        XCTAssertEqual(names(next), names(credentialed))
        XCTAssertEqual(next.body, credentialed.body)
        let explicitPort = try UpstreamRedirect.next(after: credentialed, status: 308, location: "https://API.example:443/v2")
        XCTAssertEqual(names(explicitPort), names(credentialed))
    }

    func testMethodsAsBrowsersChangeThem() throws {
        let seeOther = try UpstreamRedirect.next(after: credentialed, status: 303, location: "/done")
        XCTAssertEqual(seeOther.method, "GET")
        XCTAssertNil(seeOther.body)
        XCTAssertFalse(names(seeOther).contains("content-type"))
        for status in [301, 302] {
            XCTAssertEqual(try UpstreamRedirect.next(after: credentialed, status: status, location: "/x").method, "GET")
        }
        for status in [307, 308] {
            let kept = try UpstreamRedirect.next(after: credentialed, status: status, location: "/x")
            XCTAssertEqual(kept.method, "POST")
            XCTAssertEqual(kept.body, credentialed.body)
        }
        let versionKept = try UpstreamRedirect.next(after: credentialed, status: 307, location: "https://other.example/x")
        XCTAssertEqual(names(versionKept), ["content-type", "anthropic-version"])
    }

    func testARemoteUpstreamCannotSendTheDaemonToALocalSocket() {
        XCTAssertThrowsError(try UpstreamRedirect.next(after: credentialed, status: 302, location: "http+unix://%2Fvar%2Frun%2Fdocker.sock/x"))
        var local = credentialed
        local.url = "http+unix://%2Fvar%2Frun%2Fdocker.sock/v1.43/images/x/json"
        XCTAssertThrowsError(try UpstreamRedirect.next(after: local, status: 302, location: "http://127.0.0.1:9/x"))
        XCTAssertNoThrow(try UpstreamRedirect.next(after: local, status: 302, location: "/v1.43/images/y/json"))
    }

    func testARefusingRequestFailsWithEIONamingTheRedirect() {
        var signed = credentialed
        signed.crossOriginRedirects = .refuse
        XCTAssertThrowsError(try UpstreamRedirect.next(after: signed, status: 307, location: "http://127.0.0.1:9/b/k")) { error in
            let failure = error as? CacheError
            XCTAssertEqual(failure?.kind, .io)
            XCTAssertEqual(failure?.status, 307)
            XCTAssertTrue(failure?.message.contains("redirected (307) to http://127.0.0.1:9") ?? false, "\(error)")
        }
        XCTAssertNoThrow(try UpstreamRedirect.next(after: signed, status: 307, location: "/b/k2"))
    }
}

/// Connection failures in the user's terms.
final class UpstreamErrorTextTests: XCTestCase {
    private struct BuildPathError: Error, CustomStringConvertible {
        var description: String { "handshake failed at /home/builder/swift-nio-ssl/Sources/CNIOBoringSSL/ssl/handshake.cc:312" }
    }

    func testRefusedAndBuildPaths() {
        XCTAssertEqual(UpstreamClient.describe(IOError(errnoCode: ECONNREFUSED, reason: "connection reset (error set)")),
                       "connection refused")
        XCTAssertEqual(UpstreamClient.describe(BuildPathError()), "handshake failed")
        XCTAssertEqual(UpstreamClient.describe(HTTPClientError.remoteConnectionClosed), "the upstream closed the connection")
    }
}
