import CidCacheCore
@testable import CidCacheStore
import Foundation
import XCTest

/// Stored bytes and the entries that use them, under removals that interleave
/// with a store of the same bytes: rows are trusted over files, files go only
/// after their rows, and cached records are forgotten before the bytes go.
final class RemovalOrderTests: StoreTestCase {
    private var store: Store!

    override func setUpWithError() throws {
        try super.setUpWithError()
        store = try Store(directory: directory, inlineLimit: 0)  // every body in a file
    }

    private let body = Array("the same answer for two requests".utf8)

    private func newEntry(_ request: String) -> (entry: NewEntry, key: [UInt8]) {
        let key = Array("{\"request\":\"\(request)\"}".utf8)
        let now = Int64(Date().timeIntervalSince1970)
        return (NewEntry(requestCID: CID.forKeyDocument(key).string, upstream: "u", namespace: "openai", op: "embeddings",
                         contentCID: CID.forContent(body).string, size: Int64(body.count), fetched: now,
                         expires: now + 60, ttl: 60, tokens: 0, costUSD: 0, fetchMs: 1), key)
    }

    /// The file of shared bytes is found in place, then the only entry using
    /// them is evicted and the bytes with it, then the second store indexes
    /// them: the store writes the file again instead of indexing missing bytes.
    func testBytesRemovedBetweenTheFileCheckAndTheRowAreWrittenAgain() throws {
        let first = newEntry("a")
        let stored = try store.storeAnswer(first.entry, body: body, keyDocument: first.key).stored
        let second = newEntry("b")
        try store.writeBlobFile(cid: second.entry.contentCID, bytes: body)  // there: skipped
        try store.writeBlobFile(cid: second.entry.requestCID, bytes: second.key)
        XCTAssertEqual(try store.evict(toFit: 0).map(\.id), [stored.id])
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath(second.entry.contentCID)))

        let kept = try store.indexAnswer(second.entry, body: body, keyDocument: second.key).stored
        XCTAssertEqual(try store.readBlob(kept.contentCID), body)
        let report = try store.verify()
        XCTAssertEqual(report.badBlobs, [])
        XCTAssertEqual(report.droppedEntries.map(\.id), [])
    }

    /// An entry stored after another was removed keeps the bytes they share.
    func testUnneededBytesAreThoseNoEntryUsesWhenTheyAreDeleted() throws {
        let first = newEntry("a")
        let old = try store.storeAnswer(first.entry, body: body, keyDocument: first.key).stored
        try store.removeEntries(ids: [old.id])
        let second = newEntry("b")
        let fresh = try store.storeAnswer(second.entry, body: body, keyDocument: second.key).stored
        XCTAssertEqual(try store.removeUnneededBlobs(), 1)  // the first key document only
        XCTAssertNotNil(try store.entry(id: fresh.id))
        XCTAssertEqual(try store.readBlob(fresh.contentCID), body)
    }

    /// Evicted entries are handed to `forget` while their bytes are still there.
    func testEvictionForgetsEntriesBeforeTheirBytesGo() throws {
        let first = newEntry("a")
        let stored = try store.storeAnswer(first.entry, body: body, keyDocument: first.key).stored
        var forgotten: [Int64] = []
        let path = store.blobPath(stored.contentCID)
        _ = try store.evict(toFit: 0) { entries in
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), "bytes gone before their entries were forgotten")
            forgotten += entries.map(\.id)
        }
        XCTAssertEqual(forgotten, [stored.id])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    /// `rm cid/<cid>`: the entries are forgotten after their rows left and before the file does.
    func testContentRemovalForgetsEntriesBeforeTheFileGoes() throws {
        let first = newEntry("a")
        let stored = try store.storeAnswer(first.entry, body: body, keyDocument: first.key).stored
        let path = store.blobPath(stored.contentCID)
        var forgotten: [Int64] = []
        let removed = try store.removeBlob(stored.contentCID) { entries in
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            forgotten += entries.map(\.id)
        }
        XCTAssertEqual(removed.map(\.id), [stored.id])
        XCTAssertEqual(forgotten, [stored.id])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}
