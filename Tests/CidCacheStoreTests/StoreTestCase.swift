import Foundation
import XCTest

/// A test case with a path for a store's directory, new for each test (not
/// created: the store makes it) and removed after it.
class StoreTestCase: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "cidcache-store-test-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
