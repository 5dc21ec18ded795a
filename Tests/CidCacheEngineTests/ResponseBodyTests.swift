import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Synchronization
import XCTest

final class ResponseBodyTests: XCTestCase {
    /// A second end arriving while the first runs its completions (between its
    /// two lock sections) is ignored: readers see the first end only.
    func testOnlyTheFirstEndCounts() {
        let body = ResponseBody()
        let completions = Atomic<Int>(0)
        body.whenComplete { _ in
            completions.add(1, ordering: .relaxed)
            body.fail(CacheError(.io, "a late failure"))
        }
        body.append([1, 2, 3])
        body.finish()
        XCTAssertEqual(completions.load(ordering: .relaxed), 1)
        let ended = expectation(description: "read at the end")
        body.read(at: 3, limit: 10) { chunk in
            if case .end = chunk { ended.fulfill() } else { XCTFail("\(chunk)") }
        }
        wait(for: [ended], timeout: 1)
    }
}
