import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

private func object(_ text: String) throws -> JSONObject {
    try XCTUnwrap(CanonicalJSON.parse(Array(text.utf8)).objectValue)
}


private func namespace(_ name: String, _ environment: [String: String] = [:]) throws -> Namespace {
    let list = try NamespaceResolver.resolve(config: CacheConfig(), environment: environment,
                                             secret: [UInt8](repeating: 3, count: 32))
    return try XCTUnwrap(list.first { $0.name == name })
}

final class TEIFamilyTests: XCTestCase {
    private let family = TEIFamily()
    private let embed = #"{"inputs":["What is Deep Learning?"],"normalize":true,"truncate":false}"#

    func testRequest() throws {
        let ns = try namespace("tei")
        XCTAssertEqual(ns.endpoint.baseURL, "http://127.0.0.1:8080")
        XCTAssertNil(ns.endpoint.credential)
        XCTAssertTrue(ns.family is TEIFamily)
        let request = try family[op: "embed"].httpRequest(try object(embed), body: Array(embed.utf8), endpoint: ns.endpoint)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://127.0.0.1:8080/embed")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, Array(embed.utf8))
    }

    func testOverridesAndOptionalBearer() throws {
        let ns = try namespace("tei", ["CIDCACHE_TEI_URL": "http://emb:80", "CIDCACHE_TEI_KEY": "t", "HF_TOKEN": "hf"])
        let request = try family[op: "embed"].httpRequest(try object(embed), body: [], endpoint: ns.endpoint)
        XCTAssertEqual(request.url, "http://emb:80/embed")
        XCTAssertEqual(request.header("authorization"), "Bearer t")
        XCTAssertNil(try namespace("tei", ["HF_TOKEN": "hf"]).endpoint.credential)
    }

    func testTTLDroppedFieldsAndValidation() throws {
        XCTAssertEqual(family[op: "embed"].defaultTTL(try object(embed)), 86_400)
        XCTAssertEqual(family[op: "embed"].droppedFields, [])
        XCTAssertNoThrow(try family[op: "embed"].validate(try object(#"{"inputs":"x"}"#)))
        XCTAssertThrowsError(try family[op: "embed"].validate(try object(#"{"input":"x"}"#))) {
            XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
        }
        XCTAssertFalse(family[op: "embed"].streams(try object(#"{"stream":true}"#)))
        XCTAssertNil(family[op: "embed"].usage(try object(embed), Array("[[0.1,0.2]]".utf8)))
    }
}
