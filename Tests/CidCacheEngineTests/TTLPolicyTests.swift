import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

final class TTLPolicyTests: XCTestCase {
    private func object(_ text: String) throws -> JSONObject {
        try XCTUnwrap(CanonicalJSON.parse(Array(text.utf8)).objectValue)
    }

    func testTemperatureZeroLivesAnHour() throws {
        let family = OpenAIFamily()
        XCTAssertEqual(family.defaultTTL(op: "chat.completions", request: try object(#"{"temperature":0}"#)), 3600)
        XCTAssertEqual(family.defaultTTL(op: "chat.completions", request: try object(#"{"temperature":0.0}"#)), 3600)
    }

    func testAnyOtherTemperatureLivesHalfAnHour() throws {
        let family = OpenAIFamily()
        for request in [#"{"temperature":0.7}"#, #"{}"#, #"{"temperature":null}"#, #"{"temperature":"0"}"#] {
            XCTAssertEqual(family.defaultTTL(op: "chat.completions", request: try object(request)), 1800, request)
        }
    }

    func testFixedOperationTTLs() throws {
        let family = OpenAIFamily()
        XCTAssertEqual(family.defaultTTL(op: "embeddings", request: try object("{}")), 86_400)
        XCTAssertEqual(family.defaultTTL(op: "completions", request: try object(#"{"temperature":1}"#)), 3600)
    }

    func testNestedTemperaturePath() throws {
        let request = try object(#"{"options":{"temperature":0}}"#)
        XCTAssertEqual(TemperatureRule.ttl(request, path: ["options", "temperature"]), 3600)
        XCTAssertEqual(TemperatureRule.ttl(request, path: ["temperature"]), 1800)
    }
}
