import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import XCTest

/// What a front adds to a query (the HTTP front's Cache-Control and credential
/// headers), and the credential header each family reads and writes. Every key
/// here is a made-up test value, not a real credential.
final class QueryOptionsTests: XCTestCase {
    private var directory: String!
    private var engine: CacheEngine!
    private let configuredKey = "sk-test-not-a-real-key-0001"

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-options-\(UUID().uuidString)"
        engine = try CacheEngine(dataDirectory: directory, config: CacheConfig(),
                                 environment: ["CIDCACHE_OPENAI_KEY": configuredKey, "CIDCACHE_HF_KEY": "hf_test_not_a_real_token_1"],
                                 truncateLogs: true)
    }

    override func tearDown() async throws {
        await engine.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func chat() throws -> PreparedQuery {
        try engine.prepare(namespace: "openai", op: "chat.completions",
                           body: Array(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#.utf8))
    }

    func testRefreshAndNoStoreAddToTheControlObject() throws {
        let query = try chat()
        XCTAssertTrue(query.servesFromCache)
        let refreshed = engine.applying(QueryOptions(refresh: true), to: query)
        XCTAssertTrue(refreshed.control.refresh)
        XCTAssertFalse(refreshed.bypassesCache)
        XCTAssertFalse(refreshed.servesFromCache)
        let bypassed = engine.applying(QueryOptions(noStore: true), to: query)
        XCTAssertTrue(bypassed.bypassesCache)
        XCTAssertEqual(bypassed.requestCID, query.requestCID, "options never change the key")
    }

    func testACallersCredentialKeepsAnLLMNamespacesEntries() throws {
        let query = try chat()
        let caller = engine.applying(QueryOptions(credential: "sk-test-callers-own-key-0002"), to: query)
        XCTAssertEqual(caller.namespace.endpoint.credential, "sk-test-callers-own-key-0002")
        XCTAssertEqual(caller.namespace.upstream, query.namespace.upstream, "openai entries are not scoped by credential")
        XCTAssertEqual(query.namespace.endpoint.credential, configuredKey)
    }

    func testACallersCredentialScopesAScopedNamespacesEntries() throws {
        let query = try engine.prepare(namespace: "hf", op: "model_info", body: Array(#"{"repo_id":"bert-base-uncased"}"#.utf8))
        let other = engine.applying(QueryOptions(credential: "hf_test_not_a_real_token_2"), to: query)
        XCTAssertNotEqual(other.namespace.upstream, query.namespace.upstream)
        let same = engine.applying(QueryOptions(credential: "hf_test_not_a_real_token_1"), to: query)
        XCTAssertEqual(same.namespace.upstream, query.namespace.upstream, "the configured credential's own scope")
    }

    func testCredentialHeaders() {
        XCTAssertEqual(OpenAIFamily().credentialHeader, .bearer)
        XCTAssertEqual(AnthropicFamily().credentialHeader, .named("x-api-key"))
        XCTAssertNil(S3Family().credentialHeader)
        XCTAssertEqual(CredentialHeader.bearer.credential(in: [("authorization", "Bearer sk-test-x ")]), "sk-test-x")
        XCTAssertEqual(CredentialHeader.bearer.credential(in: [("AUTHORIZATION", "bearer sk-test-y")]), "sk-test-y")
        XCTAssertNil(CredentialHeader.bearer.credential(in: [("Authorization", "Basic dXNlcjpwYXNz")]))
        XCTAssertNil(CredentialHeader.bearer.credential(in: [("Authorization", "Bearer ")]))
        XCTAssertEqual(CredentialHeader.named("x-api-key").credential(in: [("X-Api-Key", "sk-ant-test-z")]), "sk-ant-test-z")
        XCTAssertTrue(CredentialHeader.bearer.header(for: "sk-test-x") == ("Authorization", "Bearer sk-test-x"))
    }

    func testAnthropicTakesACallersKeyInEitherHeader() throws {
        let anthropic = try XCTUnwrap(engine.namespaces["anthropic"])
        XCTAssertEqual(anthropic.callerCredential(in: [("x-api-key", "sk-ant-test-a")]), "sk-ant-test-a")
        XCTAssertEqual(anthropic.callerCredential(in: [("authorization", "Bearer sk-ant-test-b")]), "sk-ant-test-b")
        XCTAssertEqual(anthropic.callerCredential(in: [("authorization", "Bearer sk-ant-test-b"), ("x-api-key", "sk-ant-test-a")]),
                       "sk-ant-test-a", "x-api-key first")
        XCTAssertNil(try XCTUnwrap(engine.namespaces["openai"]).callerCredential(in: [("x-api-key", "sk-test-c")]))
    }
}
