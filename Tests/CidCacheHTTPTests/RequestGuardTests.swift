import CidCacheCore
import CidCacheEngine
@testable import CidCacheHTTP
import XCTest

/// The front's door: hosts, origins, content types, pass-through and loops decided from a request's facts alone.
final class RequestGuardTests: XCTestCase {
    let door = RequestGuard(allowedHosts: ["cache.internal"], allowedOrigins: ["https://notebook.example:8443"])

    func facts(_ method: String = "POST", host: String? = "127.0.0.1:8421", origin: String? = nil,
               site: String? = nil, type: String? = "application/json", json: Bool = true,
               passing: RequestGuard.PassThrough? = nil, cameBack: Bool = false) -> RequestGuard.Facts {
        RequestGuard.Facts(method: method, host: host, origin: origin, secFetchSite: site, contentType: type,
                           requestedHeaders: nil, cameBack: cameBack, takesJSONBody: json, passThrough: passing)
    }

    func status(_ verdict: RequestGuard.Verdict) -> Int {
        switch verdict {
        case .admit: return 200
        case .preflight: return 204
        case .refuse(let status, _): return status
        }
    }

    func testLoopbackHostsAndAllowedNamesGetIn() {
        for host in ["127.0.0.1:8421", "127.9.8.7", "localhost:8421", "LOCALHOST", "[::1]:8421", "[::1]", "cache.internal:80"] {
            XCTAssertEqual(status(door.verdict(facts(host: host))), 200, host)
        }
        XCTAssertEqual(status(door.verdict(facts(host: nil))), 200)
    }

    func testOtherHostsAreRefusedNamingTheHostAndTheKey() {
        for host in ["rebind.evil.example:8421", "128.0.0.1:8421", "[::2]:8421", "localhost.evil.example", ""] {
            guard case .refuse(403, let error) = door.verdict(facts(host: host)) else { return XCTFail(host) }
            XCTAssertTrue(error.message.contains("\"\(host)\"") && error.message.contains("http.allowed_hosts"), error.message)
        }
    }

    func testOriginsOfLoopbackOrTheConfigGetInWithCORSHeaders() {
        for origin in ["http://localhost:3000", "http://127.0.0.1:5173", "https://[::1]", "https://notebook.example:8443"] {
            guard case .admit(let cors) = door.verdict(facts(origin: origin, site: "cross-site")) else { return XCTFail(origin) }
            XCTAssertEqual(cors.first { $0.name == "access-control-allow-origin" }?.value, origin)
            XCTAssertEqual(cors.first { $0.name == "vary" }?.value, "Origin")
        }
        guard case .admit(let none) = door.verdict(facts()) else { return XCTFail() }
        XCTAssertTrue(none.isEmpty)
    }

    func testOtherOriginsAndCrossSiteRequestsAreRefused() {
        for origin in ["https://evil.example", "null", "http://localhost.evil.example", "https://notebook.example"] {
            guard case .refuse(403, let error) = door.verdict(facts(origin: origin)) else { return XCTFail(origin) }
            XCTAssertTrue(error.message.contains(origin) && error.message.contains("http.allowed_origins"), error.message)
        }
        XCTAssertEqual(status(door.verdict(facts(site: "cross-site"))), 403)
        XCTAssertEqual(status(door.verdict(facts(site: "same-origin"))), 200)
    }

    func testPreflightsAreAnsweredForAllowedOriginsOnly() {
        var asked = facts("OPTIONS", origin: "http://localhost:3000", type: nil, json: false)
        asked.requestedHeaders = "authorization, content-type, x-stainless-os"
        guard case .preflight(let fields) = door.verdict(asked) else { return XCTFail() }
        XCTAssertEqual(fields.first { $0.name == "access-control-allow-headers" }?.value, "authorization, content-type, x-stainless-os")
        XCTAssertTrue(fields.contains { $0.name == "access-control-allow-methods" && $0.value.contains("POST") })
        XCTAssertEqual(status(door.verdict(facts("OPTIONS", origin: "https://evil.example", type: nil, json: false))), 403)
    }

    func testJSONOperationsTakeJSONOnly() {
        for type in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"] {
            XCTAssertEqual(status(door.verdict(facts(type: type))), 200, type)
        }
        XCTAssertEqual(status(door.verdict(facts(type: nil))), 200)
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            XCTAssertEqual(status(door.verdict(facts(type: type))), 415, type)
        }
        XCTAssertEqual(status(door.verdict(facts(type: "multipart/form-data", json: false))), 200)
    }

    func testTheConfiguredCredentialIsPassedThroughForReadsOnly() {
        let spending = RequestGuard.PassThrough(namespace: "openai", policy: .configuredForReads, usesConfiguredCredential: true)
        let own = RequestGuard.PassThrough(namespace: "openai", policy: .configuredForReads, usesConfiguredCredential: false)
        for method in ["GET", "HEAD"] {
            XCTAssertEqual(status(door.verdict(facts(method, json: false, passing: spending))), 200, method)
        }
        guard case .refuse(403, let error) = door.verdict(facts("POST", json: false, passing: spending)) else { return XCTFail() }
        XCTAssertTrue(error.message.contains("namespaces.openai.pass_through"), error.message)
        XCTAssertEqual(status(door.verdict(facts("DELETE", json: false, passing: own))), 200)
        var all = spending
        all.policy = .all
        XCTAssertEqual(status(door.verdict(facts("POST", json: false, passing: all))), 200)
        var none = own
        none.policy = .none
        XCTAssertEqual(status(door.verdict(facts("GET", json: false, passing: none))), 403)
    }

    func testARequestCarryingThisProcesssMarkIsALoop() {
        guard case .refuse(508, let error) = door.verdict(facts(cameBack: true)) else { return XCTFail() }
        XCTAssertTrue(error.message.contains("loop"))
    }
}
