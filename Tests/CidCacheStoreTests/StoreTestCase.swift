import Foundation
@testable import CidCacheStore
import GRDB
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

    /// Makes the index as an earlier version left it, migrated up to `migration` only, with `rows` written in it.
    func makeIndex(migratedUpTo migration: String, _ rows: (Database) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: directory + "/index.sqlite")
        try Store.migrator.migrate(pool, upTo: migration)
        try pool.write(rows)
    }
}
