import CidCacheCore
@testable import CidCacheShared
import Foundation
import Glibc
import NIOCore
import XCTest

/// The directory store on a temporary directory: conditional writes by
/// link and rename, ETags of the content, bounds, a lock held past a
/// write's deadline, stale temporary files swept, and the tier above it.
final class DirectoryObjectStoreTests: XCTestCase {
    var root = ""
    var store: DirectoryObjectStore!
    let key = "cidcache/v1/idx/pub-0123456789abcdef/object"

    override func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cidcache-dir-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        store = DirectoryObjectStore(root: root)
    }

    override func tearDown() async throws {
        await store.shutdown()
        try? FileManager.default.removeItem(atPath: root)
    }

    var later: NIODeadline { .now() + .seconds(600) }

    /// The names in the object's directory, dot files included.
    func names(_ directory: String = "cidcache/v1/idx/pub-0123456789abcdef") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? []).sorted()
    }

    func expect(_ expected: ObjectStoreError, line: UInt = #line, _ call: () async throws -> Void) async {
        do {
            try await call()
            XCTFail("no \(expected)", line: line)
        } catch {
            XCTAssertEqual(error as? ObjectStoreError, expected, line: line)
        }
    }

    func testWritesAreConditionalOnAbsenceOrTheETagRead() async throws {
        await expect(.notFound) { _ = try await store.get(key, limit: 100, direction: .read, deadline: later) }
        try await store.put(key, Array("first".utf8), condition: .absent, deadline: later)
        let first = try await store.get(key, limit: 100, direction: .read, deadline: later)
        XCTAssertEqual(first, StoredObject(bytes: Array("first".utf8), etag: DirectoryFiles.etag(Array("first".utf8))))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: root + "/" + key)), Data("first".utf8), "the key is the path")
        await expect(.conditionFailed) { try await store.put(key, Array("second".utf8), condition: .absent, deadline: later) }
        try await store.put(key, Array("second".utf8), condition: .matching(try XCTUnwrap(first.etag)), deadline: later)
        await expect(.conditionFailed) {
            try await store.put(key, Array("third".utf8), condition: .matching(first.etag!), deadline: later)
        }
        let second = try await store.get(key, limit: 100, direction: .write, deadline: later)
        XCTAssertEqual(second.bytes, Array("second".utf8))
        await expect(.conditionFailed) {
            try await store.put(key + "-missing", Array("x".utf8), condition: .matching(second.etag!), deadline: later)
        }
        XCTAssertEqual(names(), [".lock", "object"], "no temporary file is left behind")
    }

    func testAnObjectOverTheLimitIsTooLargeAndAMissingRootIsUnavailable() async throws {
        try await store.put(key, Array(repeating: 7, count: 100), condition: .absent, deadline: later)
        await expect(.tooLarge("read \(key): larger than 99 bytes")) {
            _ = try await store.get(key, limit: 99, direction: .read, deadline: later)
        }
        let gone = DirectoryObjectStore(root: root + "/not-mounted")
        do {
            _ = try await gone.get(key, limit: 100, direction: .read, deadline: later)
            XCTFail("a missing root is no miss")
        } catch {
            if case .unavailable = error {} else { XCTFail("\(error)") }
        }
        await gone.shutdown()
    }

    func testOfManyWritersOfOneKeyExactlyOneWins() async throws {
        let store = self.store!, key = self.key, later = self.later
        let winners = await withTaskGroup(of: Int?.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    do throws(ObjectStoreError) {
                        try await store.put(key, Array("writer \(writer)".utf8), condition: .absent, deadline: later)
                        return writer
                    } catch {
                        XCTAssertEqual(error, .conditionFailed)
                        return nil
                    }
                }
            }
            var winners: [Int] = []
            for await winner in group { winners += winner.map { [$0] } ?? [] }
            return winners
        }
        XCTAssertEqual(winners.count, 1)
        let stored = try await store.get(key, limit: 100, direction: .read, deadline: later)
        XCTAssertEqual(stored.bytes, Array("writer \(winners[0])".utf8))
        XCTAssertEqual(names(), [".lock", "object"])
    }

    func testAWriteThatCannotHaveTheLockBeforeItsDeadlinePublishesNothing() async throws {
        try await store.put(key, Array("standing".utf8), condition: .absent, deadline: later)
        let lock = open(root + "/cidcache/v1/idx/pub-0123456789abcdef/.lock", O_RDWR)
        XCTAssertEqual(flock(lock, LOCK_EX), 0)
        let other = key + "-new"
        do {
            try await store.put(other, Array("late".utf8), condition: .absent, deadline: .now() + .milliseconds(50))
            XCTFail("published without the lock")
        } catch {
            guard case .unavailable = error else { return XCTFail("\(error)") }
        }
        close(lock)
        await expect(.notFound) { _ = try await store.get(other, limit: 100, direction: .read, deadline: later) }
        // The write's thread gives up at its deadline and removes its temporary file; wait for it.
        while names().count > 2 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(names(), [".lock", "object"])
    }

    func testTemporaryFilesOfKilledWritersAreNeverReadAndOldOnesAreSwept() async throws {
        let directory = root + "/cidcache/v1/idx/pub-0123456789abcdef"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stale = directory + "/.object.0123456789abcdef.tmp", fresh = directory + "/.object.fedcba9876543210.tmp"
        for path in [stale, fresh] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("half an obj".utf8))) }
        let old = Date().addingTimeInterval(-Double(DirectoryFiles.staleTemporarySeconds) - 60)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: stale)
        await expect(.notFound) { _ = try await store.get(key, limit: 100, direction: .read, deadline: later) }
        try await store.put(key, Array("whole".utf8), condition: .absent, deadline: later)
        let whole = try await store.get(key, limit: 100, direction: .read, deadline: later)
        XCTAssertEqual(whole.bytes, Array("whole".utf8))
        // The sweep runs behind the write, on the writes' threads; wait for it.
        while FileManager.default.fileExists(atPath: stale) { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh), "a writer may still be writing a recent one")
    }

    func testKeysThatLeaveTheirPlaceAreRefused() async throws {
        try FileManager.default.createDirectory(atPath: root + "/cidcache", withIntermediateDirectories: false)
        XCTAssertEqual(symlink("/etc/hostname", root + "/cidcache/planted"), 0)
        for bad in ["cidcache/../../etc/passwd", "cidcache/v1/idx/.lock", "cidcache/./v1", "cidcache/v1/", "cidcache/planted"] {
            do {
                _ = try await store.get(bad, limit: 100, direction: .read, deadline: later)
                XCTFail("read \(bad)")
            } catch {
                guard case .refused = error else { return XCTFail("\(bad): \(error)") }
            }
        }
    }

    func testTheTierOverADirectoryShares() async throws {
        let writer = TierFixture.tier(store!), reader = TierFixture.tier(DirectoryObjectStore(root: root), writes: false)
        let upload = TierFixture.upload("over a directory")
        let uploaded = await writer.uploadNow(upload)
        XCTAssertTrue(uploaded)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: root + "/" + TierFixture.blobKey(upload))), Data(upload.body))
        guard case .hit(_, let body) = await reader.lookup(TierFixture.publicPlace, requestCID: upload.requestCID) else {
            return XCTFail()
        }
        XCTAssertEqual(body, upload.body)
        _ = await reader.shutdown()
    }
}
