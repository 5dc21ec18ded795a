import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class TTLPolicyTests: XCTestCase {
    func testTemperatureZeroLivesAnHour() throws {
        let family = OpenAIFamily()
        XCTAssertEqual(family[op: "chat.completions"].defaultTTL(try object(#"{"temperature":0}"#)), 3600)
        XCTAssertEqual(family[op: "chat.completions"].defaultTTL(try object(#"{"temperature":0.0}"#)), 3600)
    }

    func testAnyOtherTemperatureLivesHalfAnHour() throws {
        let family = OpenAIFamily()
        for request in [#"{"temperature":0.7}"#, #"{}"#, #"{"temperature":null}"#, #"{"temperature":"0"}"#] {
            XCTAssertEqual(family[op: "chat.completions"].defaultTTL(try object(request)), 1800, request)
        }
    }

    func testFixedOperationTTLs() throws {
        let family = OpenAIFamily()
        XCTAssertEqual(family[op: "embeddings"].defaultTTL(try object("{}")), 86_400)
        XCTAssertEqual(family[op: "completions"].defaultTTL(try object(#"{"temperature":1}"#)), 3600)
    }

    func testNestedTemperaturePath() throws {
        let request = try object(#"{"options":{"temperature":0}}"#)
        XCTAssertEqual(TTLRule.temperature(at: ["options", "temperature"]).seconds(for: request), 3600)
        XCTAssertEqual(TTLRule.temperature(at: ["temperature"]).seconds(for: request), 1800)
    }
}
