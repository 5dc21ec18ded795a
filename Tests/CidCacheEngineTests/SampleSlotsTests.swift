@testable import CidCacheEngine
import XCTest

/// Which slot of a sampled request an ask gets (docs/REFERENCE.md §8.1).
final class SampleSlotsTests: XCTestCase {
    private func choice(_ count: Int, live: Set<Int> = [], fetching: Set<Int> = [], turn: Int = 0) -> SampleSlots.Choice {
        SampleSlots(count: count, live: live, fetching: fetching).choice(turn: turn)
    }

    func testTheLowestFreeSlotIsFetchedWhileSomeAreMissing() {
        XCTAssertEqual(choice(3, turn: 5), .init(slot: 0, fetches: true, nextTurn: 1))
        XCTAssertEqual(choice(3, live: [0], fetching: [1]), .init(slot: 2, fetches: true, nextTurn: 3))
        XCTAssertEqual(choice(3, live: [1]), .init(slot: 0, fetches: true, nextTurn: 1))
    }

    func testWhenEveryMissingSlotIsBeingFetchedAsksJoinThemInTurn() {
        let joined = (0..<4).map { choice(3, live: [1], fetching: [0, 2], turn: $0).slot }
        XCTAssertEqual(joined, [0, 2, 0, 2])
        XCTAssertEqual(choice(3, fetching: [0, 1, 2], turn: 4), .init(slot: 1, fetches: true, nextTurn: 5))
    }

    func testOnceAllAreLiveAsksRotateOnFromTheLastSlotServed() {
        var turn = 2  // slot 1 was just fetched again
        var served: [Int] = []
        for _ in 0..<4 {
            let next = choice(3, live: [0, 1, 2], turn: turn)
            XCTAssertFalse(next.fetches)
            served.append(next.slot)
            turn = next.nextTurn
        }
        XCTAssertEqual(served, [2, 0, 1, 2])
    }
}
