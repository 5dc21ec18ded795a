import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class TEIFamilyTests: XCTestCase {
    private let family = TEIFamily()
    private let embed = #"{"inputs":["What is Deep Learning?"],"normalize":true,"truncate":false}"#

    func testRequest() throws {
        let server = Endpoint(baseURL: "http://127.0.0.1:8080", credential: nil)
        let request = try family[op: "embed"].httpRequest(try object(embed), body: Array(embed.utf8), endpoint: server)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://127.0.0.1:8080/embed")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(request.body, Array(embed.utf8))
        let keyed = try family[op: "embed"].httpRequest(try object(embed), body: [], endpoint: Endpoint(baseURL: "http://emb:80", credential: "t"))
        XCTAssertEqual(keyed.url, "http://emb:80/embed")
        XCTAssertEqual(keyed.header("authorization"), "Bearer t")
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
