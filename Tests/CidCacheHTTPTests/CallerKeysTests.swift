import CidCacheCore
@testable import CidCacheHTTP
import Foundation
import XCTest

/// The caller keys file and the table the front looks keys up in.
final class CallerKeysTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "caller-keys-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testAKeyIsKeptAsItsDigestAndReadBack() throws {
        var file = CallerKeyFile()
        let key = try file.add(name: "alice", now: 1_700_000_000)
        XCTAssertTrue(key.hasPrefix(CallerKeyFile.keyPrefix))
        XCTAssertFalse(String(decoding: file.serialized, as: UTF8.self).contains(key))
        let path = folder + "/keys.json"
        try file.write(to: path)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try CallerKeyFile.load(path), file)
        XCTAssertEqual(file.entries.first?.digest, CallerKeyFile.digest(of: key))
    }

    func testNamesAreCheckedAndUnique() throws {
        var file = CallerKeyFile()
        _ = try file.add(name: "ci-runner_2.eu", now: 0)
        for name in ["", "has space", "slash/y", String(repeating: "a", count: 65), "ci-runner_2.eu"] {
            XCTAssertThrowsError(try file.add(name: name, now: 0), name) { error in
                XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest)
            }
        }
        XCTAssertTrue(file.remove(name: "ci-runner_2.eu"))
        XCTAssertFalse(file.remove(name: "ci-runner_2.eu"))
    }

    func testAMissingFileIsEmptyAndAMalformedOneNamesItself() throws {
        XCTAssertEqual(try CallerKeyFile.load(folder + "/none.json").entries, [])
        for text in ["[]", "{\"keys\": [{\"name\": \"a\", \"sha256\": \"00\", \"created\": 1}]}", "{\"keys\": 1}", "not json"] {
            XCTAssertThrowsError(try CallerKeyFile(parsing: Array(text.utf8), path: "/k.json"), text) { error in
                XCTAssertTrue((error as? CacheError)?.message.hasPrefix("/k.json: ") == true, text)
            }
        }
    }

    func testTheTableFindsCallersAndReadsTheFileAgainWhenItChanges() throws {
        let path = folder + "/keys.json"
        var file = CallerKeyFile()
        let alice = try file.add(name: "alice", now: 0)
        try file.write(to: path)
        let keys = try CallerKeys(path: path, required: false)
        XCTAssertEqual(keys.caller(presenting: alice), "alice")
        XCTAssertNil(keys.caller(presenting: "sk-test-not-a-real-key-0001"))
        XCTAssertNil(keys.caller(presenting: CallerKeyFile.keyPrefix + "UNKNOWN"))
        XCTAssertNil(try CallerKeys(path: nil, required: false).caller(presenting: alice))

        let bob = try file.add(name: "bob", now: 0)
        XCTAssertTrue(file.remove(name: "alice"))
        try file.write(to: path)
        // Another modification time than the first write's, whatever the file system's resolution.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: path)
        let deadline = Date().addingTimeInterval(5)
        while keys.caller(presenting: bob) == nil && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(keys.caller(presenting: bob), "bob")
        XCTAssertNil(keys.caller(presenting: alice))
    }
}
