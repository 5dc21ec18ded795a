import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

/// Each family's built-in namespace as the engine resolves it: defaults, the
/// ecosystem's variables, `CIDCACHE_<NS>_*` overrides and the upstream
/// identity (scope, version, settings). What a family does with an endpoint
/// is tested in CidCacheUpstreamsTests.
final class FamilyNamespaceTests: XCTestCase {
    private func namespace(_ name: String, _ environment: [String: String] = [:], config: CacheConfig = CacheConfig()) throws -> Namespace {
        let list = try NamespaceResolver.resolve(config: config, environment: environment, secret: [UInt8](repeating: 3, count: 32))
        return try XCTUnwrap(list.first { $0.name == name })
    }

    func testAnthropicDefaultsAndVariables() throws {
        XCTAssertEqual(try namespace("anthropic").endpoint.baseURL, "https://api.anthropic.com")
        XCTAssertNil(try namespace("anthropic").endpoint.credential)
        let env = ["ANTHROPIC_BASE_URL": "http://proxy:1", "ANTHROPIC_API_KEY": "a"]
        XCTAssertEqual(try namespace("anthropic", env).endpoint.baseURL, "http://proxy:1")
        XCTAssertEqual(try namespace("anthropic", env).endpoint.credential, "a")
        let overridden = env.merging(["CIDCACHE_ANTHROPIC_URL": "http://fake:2", "CIDCACHE_ANTHROPIC_KEY": "b"]) { $1 }
        XCTAssertEqual(try namespace("anthropic", overridden).endpoint.baseURL, "http://fake:2")
        XCTAssertEqual(try namespace("anthropic", overridden).endpoint.credential, "b")
        XCTAssertTrue(try namespace("anthropic").family is AnthropicFamily)
    }

    func testGeminiDefaultsAndKeyVariables() throws {
        XCTAssertEqual(try namespace("gemini").endpoint.baseURL, "https://generativelanguage.googleapis.com")
        XCTAssertEqual(try namespace("gemini", ["GEMINI_API_KEY": "g"]).endpoint.credential, "g")
        XCTAssertEqual(try namespace("gemini", ["GOOGLE_API_KEY": "o"]).endpoint.credential, "o")
        XCTAssertEqual(try namespace("gemini", ["GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "o"]).endpoint.credential, "o")
        let overridden = ["GEMINI_API_KEY": "g", "CIDCACHE_GEMINI_KEY": "c", "CIDCACHE_GEMINI_URL": "http://fake:3"]
        XCTAssertEqual(try namespace("gemini", overridden).endpoint.credential, "c")
        XCTAssertEqual(try namespace("gemini", overridden).endpoint.baseURL, "http://fake:3")
        XCTAssertTrue(try namespace("gemini").family is GeminiFamily)
    }

    func testOllamaHostAndOverrides() throws {
        let ns = try namespace("ollama")
        XCTAssertEqual(ns.endpoint.baseURL, "http://127.0.0.1:11434")
        XCTAssertNil(ns.endpoint.credential)
        XCTAssertFalse(ns.family.requiresCredential)
        XCTAssertTrue(ns.family is OllamaFamily)
        XCTAssertEqual(try namespace("ollama", ["OLLAMA_HOST": "0.0.0.0"]).endpoint.baseURL, "http://0.0.0.0:11434")
        XCTAssertEqual(try namespace("ollama", ["OLLAMA_HOST": "a:1", "CIDCACHE_OLLAMA_URL": "http://b:2"]).endpoint.baseURL, "http://b:2")
        XCTAssertEqual(try namespace("ollama", ["CIDCACHE_OLLAMA_KEY": "proxy-token"]).endpoint.credential, "proxy-token")
    }

    func testLocalServersDefaultsAndOverrides() throws {
        for (name, url) in [("tgi", "http://127.0.0.1:8080"), ("tei", "http://127.0.0.1:8080"), ("ovms", "http://127.0.0.1:8000"),
                            ("opea", "http://127.0.0.1:8888")] {
            let ns = try namespace(name)
            XCTAssertEqual(ns.endpoint.baseURL, url, name)
            XCTAssertNil(ns.endpoint.credential, name)
            XCTAssertEqual(ns.family.name, name)
        }
        XCTAssertEqual(try namespace("ovms", ["CIDCACHE_OVMS_URL": "http://x:1"]).endpoint.baseURL, "http://x:1")
        let opea = try namespace("opea", ["CIDCACHE_OPEA_URL": "http://mega:9999/", "CIDCACHE_OPEA_KEY": "o"])
        XCTAssertEqual(opea.endpoint.baseURL, "http://mega:9999/")
        XCTAssertEqual(opea.endpoint.credential, "o")
    }

    func testTGIBearerFromHFTokenOrCidcacheKeyAndTEIOnlyItsOwn() throws {
        XCTAssertEqual(try namespace("tgi", ["HF_TOKEN": "test-hf-token"]).endpoint.credential, "test-hf-token")
        let own = try namespace("tgi", ["HF_TOKEN": "test-hf-token", "CIDCACHE_TGI_KEY": "k", "CIDCACHE_TGI_URL": "https://ep.example/"])
        XCTAssertEqual(own.endpoint.credential, "k")
        XCTAssertEqual(own.endpoint.baseURL, "https://ep.example/")
        let tei = try namespace("tei", ["CIDCACHE_TEI_URL": "http://emb:80", "CIDCACHE_TEI_KEY": "t", "HF_TOKEN": "hf"])
        XCTAssertEqual(tei.endpoint.baseURL, "http://emb:80")
        XCTAssertEqual(tei.endpoint.credential, "t")
        XCTAssertNil(try namespace("tei", ["HF_TOKEN": "hf"]).endpoint.credential)
    }

    func testGitHubNamespaceAndCredentialScope() throws {
        let ns = try namespace("github")
        XCTAssertTrue(ns.family is GitHubFamily)
        XCTAssertEqual(ns.endpoint.baseURL, "https://api.github.com")
        XCTAssertEqual(try namespace("github", ["GITHUB_TOKEN": "t1"]).endpoint.credential, "t1")
        XCTAssertEqual(try namespace("github", ["GH_TOKEN": "t2", "GITHUB_TOKEN": "t1"]).endpoint.credential, "t2")
        XCTAssertEqual(try namespace("github", ["GITHUB_API_URL": "https://ghe/api/v3"]).endpoint.baseURL, "https://ghe/api/v3")
        let a = try namespace("github", ["GITHUB_TOKEN": "test-token-a"])
        let b = try namespace("github", ["GITHUB_TOKEN": "test-token-b"])
        XCTAssertNotEqual(a.upstream, b.upstream)
        XCTAssertNotEqual(a.upstream, ns.upstream)
        XCTAssertEqual(a.upstream, try namespace("github", ["GH_TOKEN": "test-token-a"]).upstream)
    }

    func testCodeQLScope() throws {
        let ns = try namespace("codeql")
        XCTAssertTrue(ns.family is CodeQLFamily)
        XCTAssertEqual(ns.endpoint.baseURL, "https://api.github.com")
        XCTAssertNotEqual(try namespace("codeql", ["GITHUB_TOKEN": "a"]).upstream, try namespace("codeql", ["GITHUB_TOKEN": "b"]).upstream)
        XCTAssertNotEqual(try namespace("codeql", ["GITHUB_TOKEN": "a"]).upstream, try namespace("github", ["GITHUB_TOKEN": "a"]).upstream)
    }

    func testHuggingFaceNamespaceAndCredentialScope() throws {
        let ns = try namespace("hf")
        XCTAssertTrue(ns.family is HuggingFaceFamily)
        XCTAssertEqual(ns.endpoint.baseURL, "https://huggingface.co")
        XCTAssertNil(ns.endpoint.credential)
        XCTAssertEqual(try namespace("hf", ["HF_ENDPOINT": "https://hf-mirror.com"]).endpoint.baseURL, "https://hf-mirror.com")
        let a = try namespace("hf", ["HF_TOKEN": "test-hf-token-a"])
        let b = try namespace("hf", ["HF_TOKEN": "test-hf-token-b"])
        XCTAssertEqual(a.endpoint.credential, "test-hf-token-a")
        XCTAssertNotEqual(a.upstream, b.upstream)
        XCTAssertNotEqual(a.upstream, ns.upstream)
        XCTAssertEqual(a.upstream, try namespace("hf", ["HF_TOKEN": "test-hf-token-a"]).upstream)
        XCTAssertEqual(try namespace("hf", ["CIDCACHE_HF_KEY": "test-hf-token-b", "HF_TOKEN": "test-hf-token-a"]).upstream, b.upstream)
        XCTAssertFalse(a.upstream.contains("tokenA"))
    }

    func testIPFSNamespace() throws {
        let ns = try namespace("ipfs")
        XCTAssertTrue(ns.family is IPFSFamily)
        XCTAssertEqual(ns.endpoint.baseURL, "http://127.0.0.1:5001")
        XCTAssertNil(ns.endpoint.credential)
        XCTAssertFalse(ns.family.requiresCredential)
        XCTAssertEqual(try namespace("ipfs", ["CIDCACHE_IPFS_URL": "http://10.0.0.2:5001"]).endpoint.baseURL, "http://10.0.0.2:5001")
        XCTAssertTrue(ns.family.isCredentialScoped)
    }

    func testDockerHostBecomesABaseURL() throws {
        XCTAssertEqual(try namespace("docker").endpoint.baseURL, "http+unix://%2Fvar%2Frun%2Fdocker.sock")
        XCTAssertEqual(try namespace("docker", ["DOCKER_HOST": "tcp://h:1"]).endpoint.baseURL, "http://h:1")
        XCTAssertEqual(try namespace("docker", ["DOCKER_HOST": "tcp://h:1", "CIDCACHE_DOCKER_URL": "unix:///x.sock"]).endpoint.baseURL,
                       "http+unix://%2Fx.sock")
        XCTAssertEqual(try namespace("docker", ["DOCKER_API_VERSION": "1.41"]).endpoint.settings["api_version"], "1.41")
    }

    func testDockerAPIVersionAndRegistryArePartOfTheIdentity() throws {
        let family = DockerFamily()
        let base = try namespace("docker")
        XCTAssertEqual(family.apiVersion(base.endpoint), "v1.43")
        XCTAssertEqual(family.apiVersion(try namespace("docker", ["CIDCACHE_DOCKER_API_VERSION": "v1.45"]).endpoint), "v1.45")
        XCTAssertNotEqual(try namespace("docker", ["DOCKER_API_VERSION": "1.41"]).upstream, base.upstream)
        XCTAssertEqual(try namespace("docker", ["DOCKER_API_VERSION": "1.43"]).upstream, base.upstream)
        XCTAssertNotEqual(try namespace("docker", ["CIDCACHE_DOCKER_REGISTRY": "http://127.0.0.1:5000"]).upstream, base.upstream)
        XCTAssertNotEqual(try namespace("docker", ["CIDCACHE_DOCKER_KEY": "user:pass"]).upstream, base.upstream)
        XCTAssertTrue(family.isCredentialScoped)
    }

    func testS3VariablesBecomeTheKeyPairAndSettings() throws {
        let ns = try namespace("s3", ["AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000/", "AWS_ACCESS_KEY_ID": "test-key-id",
                                      "AWS_SECRET_ACCESS_KEY": "secret/value", "AWS_REGION": "eu-west-3",
                                      "AWS_SESSION_TOKEN": "session-token"])
        XCTAssertTrue(ns.family is S3Family)
        XCTAssertEqual(ns.endpoint.baseURL, "http://127.0.0.1:9000/")
        XCTAssertEqual(ns.endpoint.credential, "test-key-id")
        XCTAssertEqual(ns.endpoint.settings, ["secret_access_key": "secret/value", "region": "eu-west-3", "session_token": "session-token"])
        XCTAssertEqual(try namespace("s3", ["AWS_ENDPOINT_URL": "http://other:9000"]).endpoint.baseURL, "http://other:9000")
    }

    func testS3DefaultEndpointAndIdentity() throws {
        let family = S3Family()
        let base = ["AWS_ACCESS_KEY_ID": "test-key-id-one", "AWS_SECRET_ACCESS_KEY": "s1"]
        let ns = try namespace("s3", base.merging(["AWS_DEFAULT_REGION": "ap-south-1"]) { a, _ in a })
        XCTAssertEqual(try family.base(ns.endpoint).origin, "https://s3.ap-south-1.amazonaws.com")
        XCTAssertEqual(try family.base(try namespace("s3").endpoint).origin, "https://s3.us-east-1.amazonaws.com")
        // AWS_REGION wins over AWS_DEFAULT_REGION, CIDCACHE_S3_REGION over both.
        XCTAssertEqual(family.region(try namespace("s3", ["AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"]).endpoint), "a")
        XCTAssertEqual(family.region(try namespace("s3", ["AWS_REGION": "a", "CIDCACHE_S3_REGION": "c"]).endpoint), "c")

        let first = try namespace("s3", base).upstream
        // Scoped by the whole credential: a presigned URL made with a wrong secret is not served once it is fixed.
        XCTAssertNotEqual(try namespace("s3", base.merging(["AWS_SECRET_ACCESS_KEY": "other"]) { _, b in b }).upstream, first,
                          "the secret is part of the scope")
        XCTAssertFalse(first.contains("s1"))
        XCTAssertNotEqual(try namespace("s3", base.merging(["AWS_ACCESS_KEY_ID": "test-key-id-two"]) { _, b in b }).upstream, first)
        XCTAssertNotEqual(try namespace("s3", base.merging(["AWS_REGION": "us-west-2"]) { _, b in b }).upstream, first)
        XCTAssertNotEqual(try namespace("s3").upstream, first)
    }

    func testS3ConfigSettings() throws {
        var config = try CacheConfig.parse(Array(#"{"namespaces": {"s3": {"family": "s3", "url": "http://minio:9000", "settings": {"region": "home"}}}}"#.utf8))
        let ns = try namespace("s3", ["AWS_REGION": "ignored"], config: config)
        XCTAssertEqual(S3Family().region(ns.endpoint), "home")
        XCTAssertEqual(ns.endpoint.baseURL, "http://minio:9000")
        config.namespaces["s3"]?.settings = ["colour": "blue"]
        XCTAssertThrowsError(try namespace("s3", config: config)) {
            XCTAssertTrue(($0 as? CacheError)?.message.contains("unknown setting \"colour\"") ?? false)
        }
    }
}
