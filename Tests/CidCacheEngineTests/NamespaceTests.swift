import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

final class NamespaceTests: XCTestCase {
    private let secret = [UInt8](repeating: 7, count: 32)

    private func resolve(_ environment: [String: String], config: CacheConfig = CacheConfig()) throws -> [String: Namespace] {
        let list = try NamespaceResolver.resolve(config: config, environment: environment, secret: secret)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }

    func testBuiltInDefaults() throws {
        let namespaces = try resolve([:])
        XCTAssertEqual(namespaces["openai"]?.endpoint.baseURL, "https://api.openai.com/v1")
        XCTAssertEqual(namespaces["groq"]?.endpoint.baseURL, "https://api.groq.com/openai/v1")
        XCTAssertEqual(namespaces["vllm"]?.endpoint.baseURL, "http://127.0.0.1:8000/v1")
        XCTAssertNil(namespaces["openai"]?.endpoint.credential)
    }

    func testBuiltInNamespacesLimitsAndPricesComeFromTheirFamilies() throws {
        XCTAssertEqual(FamilyRegistry.builtInNamespaces["groq"]?.family, "openai")
        XCTAssertEqual(FamilyRegistry.builtInNamespaces["codeql"]?.namespace.keyVariables, ["GH_TOKEN", "GITHUB_TOKEN"])
        XCTAssertEqual(UpstreamLimits.defaults(for: "openai"), UpstreamLimits(concurrent: 32, perMinute: 500))
        XCTAssertEqual(UpstreamLimits.defaults(for: "groq"), UpstreamLimits(concurrent: 8, perMinute: 30))
        XCTAssertEqual(UpstreamLimits.defaults(for: "codeql"), UpstreamLimits(concurrent: 8, perMinute: 80))
        XCTAssertEqual(UpstreamLimits.defaults(for: "ollama"), .selfHosted)
        XCTAssertEqual(UpstreamLimits.defaults(for: "my-own"), .selfHosted)
        XCTAssertEqual(PriceTable.defaults["claude-opus-4"], AnthropicFamily().prices["claude-opus-4"])
        XCTAssertEqual(PriceTable.defaults["llama-3.1-8b-instant"]?.outputPerMillion, 0.08)
        // What a front sees of a namespace: its operations and HTTP surface, not its family.
        let gemini = try XCTUnwrap(try resolve([:])["gemini"])
        XCTAssertEqual(gemini.familyName, "gemini")
        XCTAssertEqual(gemini.errorFormat, .google)
        XCTAssertEqual(gemini.routes.first?.route.pattern, RoutePattern("/v1beta/models/{model}:generateContent"))
        XCTAssertNil(gemini.streamContentType(of: "embedContent"))
    }

    func testEcosystemVariablesThenCidcacheVariables() throws {
        var environment = ["OPENAI_BASE_URL": "http://a/v1", "OPENAI_API_KEY": "k1"]
        XCTAssertEqual(try resolve(environment)["openai"]?.endpoint.baseURL, "http://a/v1")
        XCTAssertEqual(try resolve(environment)["openai"]?.endpoint.credential, "k1")
        environment["CIDCACHE_OPENAI_URL"] = "http://b/v1"
        environment["CIDCACHE_OPENAI_KEY"] = "k2"
        XCTAssertEqual(try resolve(environment)["openai"]?.endpoint.baseURL, "http://b/v1")
        XCTAssertEqual(try resolve(environment)["openai"]?.endpoint.credential, "k2")
    }

    func testConfigAddsCompatibleNamespaces() throws {
        var config = CacheConfig()
        config.namespaces["my-local.v2"] = .init(family: "openai", url: "http://c/v1", keyEnvironmentVariable: "MY_KEY")
        let namespace = try XCTUnwrap(try resolve(["MY_KEY": "k3"], config: config)["my-local.v2"])
        XCTAssertEqual(namespace.endpoint.credential, "k3")
        XCTAssertEqual(NamespaceResolver.variablePrefix("my-local.v2"), "CIDCACHE_MY_LOCAL_V2")
    }

    func testUpstreamIdentityFollowsTheNormalizedURL() throws {
        let a = try resolve(["CIDCACHE_OPENAI_URL": "HTTP://Example.COM:80/v1/"])["openai"]!.upstream
        let b = try resolve(["CIDCACHE_OPENAI_URL": "http://example.com/v1"])["openai"]!.upstream
        let c = try resolve(["CIDCACHE_OPENAI_URL": "http://example.com:8080/v1"])["openai"]!.upstream
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.count, 16)
        XCTAssertEqual(NamespaceResolver.normalizedURL("HTTPS://Host:443/V1//"), "https://host/V1")
    }

    func testLLMIdentityIgnoresTheKey() throws {
        let a = try resolve(["CIDCACHE_OPENAI_KEY": "one"])["openai"]!.upstream
        let b = try resolve(["CIDCACHE_OPENAI_KEY": "two"])["openai"]!.upstream
        XCTAssertEqual(a, b)
    }
}
