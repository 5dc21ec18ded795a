@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

final class PriceTableTests: XCTestCase {
    func testExactAndDatedModels() {
        let table = PriceTable()
        XCTAssertEqual(table.price(of: "gpt-4o-mini"), PriceTable.defaults["gpt-4o-mini"])
        XCTAssertEqual(table.price(of: "gpt-4o-mini-2024-07-18"), PriceTable.defaults["gpt-4o-mini"])
        XCTAssertEqual(table.price(of: "gpt-4o-2024-08-06"), PriceTable.defaults["gpt-4o"])
        XCTAssertNil(table.price(of: "llama3"))
    }

    func testCostAndOverrides() {
        let table = PriceTable(overrides: ["gpt-4o-mini": ModelPrice(inputPerMillion: 1, outputPerMillion: 2)])
        let usage = TokenUsage(model: "gpt-4o-mini", inputTokens: 1_000_000, outputTokens: 500_000)
        XCTAssertEqual(table.cost(of: usage), 2, accuracy: 1e-12)
        XCTAssertEqual(table.cost(of: TokenUsage(model: nil, inputTokens: 5, outputTokens: 5)), 0)
    }
}
