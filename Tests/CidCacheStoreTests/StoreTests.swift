import CidCacheCore
@testable import CidCacheStore
import Foundation
import GRDB
import Synchronization
import XCTest

final class StoreTests: StoreTestCase {
    private func entry(_ request: String, op: String = "chat.completions", content: String = "c1",
                       expires: Int64 = Int64(Date().timeIntervalSince1970) + 600) -> NewEntry {
        NewEntry(requestCID: request, upstream: "u1", namespace: "openai", op: op, contentCID: content, size: 3,
                 fetched: expires - 600, expires: expires, ttl: 600, tokens: 12, costUSD: 0.5, fetchMs: 40)
    }

    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    func testIdenticalBodiesAreStoredOnce() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let cid = CID.forContent(Array("hello world".utf8)).string
        try store.putBlob(cid: cid, bytes: Array("hello world".utf8))
        try store.putBlob(cid: cid, bytes: Array("hello world".utf8))
        XCTAssertEqual(try store.blobStats().count, 1)
        XCTAssertEqual(try store.readBlob(cid), Array("hello world".utf8))
        XCTAssertEqual(try store.blobSize(cid), 11)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
    }

    func testPrivatePermissions() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        try store.putBlob(cid: "bafkreiabc", bytes: [1, 2, 3])
        XCTAssertEqual(try mode(directory), 0o700)
        XCTAssertEqual(try mode(directory + "/index.sqlite"), 0o600)
        XCTAssertEqual(try mode(store.blobPath("bafkreiabc")), 0o600)
        _ = try store.secret()
        XCTAssertEqual(try mode(directory + "/secret"), 0o600)
    }

    func testLeftoverTemporaryFilesAreClearedAtOpen() throws {
        _ = try Store(directory: directory, inlineLimit: 0)
        _ = FileManager.default.createFile(atPath: directory + "/tmp/half-written", contents: Data([1]))
        _ = try Store(directory: directory, inlineLimit: 0)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
    }

    func testRefetchGetsANewID() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let first = try store.upsertEntry(entry("r1"))
        try store.recordAccesses([(id: first.id, hits: 3, lastAccess: first.fetched + 5)])
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1")?.hits, 3)
        let second = try store.upsertEntry(entry("r1", content: "c2"))
        XCTAssertNotEqual(first.id, second.id)
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1")?.contentCID, "c2")
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1")?.hits, 0)
        XCTAssertNil(try store.entry(requestCID: "r1", upstream: "other"))
    }

    func testStoreAnswerWritesBodyKeyAndEntryTogether() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let body = Array("answer one".utf8), key = Array(#"{"op":"x"}"#.utf8)
        let first = try store.storeAnswer(entry("r1", content: CID.forContent(body).string), body: body, keyDocument: key)
        XCTAssertNil(first.replaced)
        XCTAssertEqual(try store.readBlob(CID.forContent(body).string), body)
        XCTAssertEqual(try store.readBlob("r1"), key)
        XCTAssertEqual(try store.entry(requestCID: "r1", upstream: "u1"), first.stored)
        // A refetch replaces the entry; the shared key document is stored once.
        let other = Array("answer two".utf8)
        let second = try store.storeAnswer(entry("r1", content: CID.forContent(other).string), body: other, keyDocument: key)
        XCTAssertEqual(second.replaced, first.stored)
        XCTAssertNotEqual(second.stored.id, first.stored.id)
        XCTAssertEqual(try store.blobStats().count, 3)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
    }

    func testSmallBytesLiveInTheIndexAndLargeOnesInFiles() throws {
        let store = try Store(directory: directory, inlineLimit: 16)
        let small = Array("tiny answer".utf8), large = Array(String(repeating: "x", count: 17).utf8)
        let smallCID = CID.forContent(small).string, largeCID = CID.forContent(large).string
        try store.putBlob(cid: smallCID, bytes: small)
        try store.putBlob(cid: largeCID, bytes: large)
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath(smallCID)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.blobPath(largeCID)))
        XCTAssertEqual(try store.readBlob(smallCID), small)
        XCTAssertEqual(try store.readBlob(largeCID), large)
        XCTAssertEqual(try store.readBlob(smallCID, size: Int64(small.count)), small)
        XCTAssertEqual(try store.readBlob(largeCID, size: Int64(large.count)), large)
        XCTAssertEqual(try store.inlineBytes(smallCID), small)
        XCTAssertNil(try store.inlineBytes(largeCID))
        XCTAssertEqual(try store.blobStats().bytes, Int64(small.count + large.count))
        XCTAssertEqual(try store.verify().badBlobs, [])
        // Removal drops the row and, for a file, the file.
        _ = try store.removeBlob(smallCID)
        _ = try store.removeBlob(largeCID)
        XCTAssertThrowsError(try store.readBlob(smallCID))
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath(largeCID)))
    }

    func testBytesStoredAsFilesBeforeStillRead() throws {
        let body = Array("stored as a file by an earlier version".utf8), cid = CID.forContent(body).string
        try Store(directory: directory, inlineLimit: 0).putBlob(cid: cid, bytes: body)
        let store = try Store(directory: directory)
        XCTAssertEqual(try store.readBlob(cid), body)
        XCTAssertEqual(try store.readBlob(cid, size: Int64(body.count)), body)
        XCTAssertNil(try store.inlineBytes(cid))
        XCTAssertEqual(try store.verify().badBlobs, [])
    }

    func testAnAnswerAndItsKeyFitInOneIndexTransaction() throws {
        let store = try Store(directory: directory)
        let body = Array("answer".utf8), key = Array(#"{"op":"x"}"#.utf8)
        let entry = NewEntry(requestCID: "r1", upstream: "u1", namespace: "openai", op: "chat.completions",
                             contentCID: CID.forContent(body).string, size: 6, fetched: 1, expires: .max, ttl: 60,
                             tokens: 0, costUSD: 0, fetchMs: 1)
        _ = try store.storeAnswer(entry, body: body, keyDocument: key)
        XCTAssertEqual(try store.readBlob(entry.contentCID), body)
        XCTAssertEqual(try store.readBlob("r1"), key)
        XCTAssertEqual(try FileManager.default.subpathsOfDirectory(atPath: directory + "/blobs"), [])
    }

    /// A store of five live chat.completions entries (`prefix0` to `prefix4`),
    /// then `expired` (expired at `now`) and `other-op` (embeddings).
    private func storeWithFiveLiveEntries(_ prefix: String, now: Int64) throws -> Store {
        let store = try Store(directory: directory, inlineLimit: 0)
        for i in 0..<5 { _ = try store.upsertEntry(entry("\(prefix)\(i)")) }
        _ = try store.upsertEntry(entry("expired", expires: now - 1))
        _ = try store.upsertEntry(entry("other-op", op: "embeddings"))
        return store
    }

    func testPagedListingIsASnapshotOfLiveEntries() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let store = try storeWithFiveLiveEntries("r", now: now)
        let snapshot = try store.maxEntryID()
        _ = try store.upsertEntry(entry("after-snapshot"))
        let firstPage = try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1", liveAt: now,
                                          afterID: 0, upToID: snapshot, limit: 3)
        XCTAssertEqual(firstPage.map(\.requestCID), ["r0", "r1", "r2"])
        let secondPage = try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1", liveAt: now,
                                           afterID: firstPage.last!.id, upToID: snapshot, limit: 3)
        XCTAssertEqual(secondPage.map(\.requestCID), ["r3", "r4"])
    }

    func testRemovingBytesRemovesTheEntriesThatNeedThem() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        try store.putBlob(cid: "c1", bytes: [1])
        _ = try store.upsertEntry(entry("r1", content: "c1"))
        _ = try store.upsertEntry(entry("r2", content: "c1"))
        _ = try store.upsertEntry(entry("r3", content: "c3"))
        let removed = try store.removeBlob("c1")
        XCTAssertEqual(Set(removed.map(\.requestCID)), ["r1", "r2"])
        XCTAssertNil(try store.blobSize("c1"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath("c1")))
        XCTAssertNotNil(try store.entry(requestCID: "r3", upstream: "u1"))
    }

    func testRemoveEntriesAndCounts() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let a = try store.upsertEntry(entry("r1"))
        _ = try store.upsertEntry(entry("r2"))
        XCTAssertEqual(try store.entryCounts()["openai"]?.entries, 2)
        try store.removeEntries(ids: [a.id])
        XCTAssertEqual(try store.removeEntry(requestCID: "r2", upstream: "u1").map(\.requestCID), ["r2"])
        XCTAssertEqual(try store.removeEntry(requestCID: "r2", upstream: "u1"), [])
        XCTAssertNil(try store.entryCounts()["openai"])
    }

    func testStateAndSecretSurviveReopening() throws {
        var store: Store? = try Store(directory: directory, inlineLimit: 0)
        try store!.saveState("stats", [1, 2, 3])
        let secret = try store!.secret()
        store = nil
        let reopened = try Store(directory: directory, inlineLimit: 0)
        XCTAssertEqual(try reopened.loadState("stats"), [1, 2, 3])
        XCTAssertEqual(try reopened.secret(), secret)
        XCTAssertEqual(secret.count, 32)
        XCTAssertTrue(try reopened.integrityCheck())
    }

    /// A 59-character stand-in for a content CID.
    private func fakeCID(_ n: Int) -> String {
        let digits = String(n)
        return "bafkrei" + String(repeating: "a", count: 52 - digits.count) + digits
    }

    func testBlobsFanOutIntoSmallFoldersAndDedupe() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let cid = fakeCID(42)
        XCTAssertEqual(cid.count, 59)
        try store.putBlob(cid: cid, bytes: [9, 9])
        try store.putBlob(cid: cid, bytes: [9, 9])
        let folder = (store.blobPath(cid) as NSString).deletingLastPathComponent
        XCTAssertEqual((folder as NSString).deletingLastPathComponent, directory + "/blobs")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [cid])
        XCTAssertEqual(try store.blobStats().count, 1)
        XCTAssertEqual(try store.blobStats().bytes, 2)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
        XCTAssertNil(try store.blobSize(fakeCID(43)))
        XCTAssertThrowsError(try store.readBlob(fakeCID(43)))
    }

    func testPermissionsDoNotDependOnTheUmask() throws {
        let previous = umask(0o277)
        defer { umask(previous) }
        let store = try Store(directory: directory, inlineLimit: 0)
        let cid = fakeCID(1)
        try store.putBlob(cid: cid, bytes: [1])
        try store.saveState("k", [1])
        _ = try store.secret()
        let lock = try Store.lockDirectory(directory)
        defer { lock.release() }
        for folder in [directory!, directory + "/blobs", directory + "/tmp",
                       (store.blobPath(cid) as NSString).deletingLastPathComponent] {
            XCTAssertEqual(try mode(folder), 0o700, folder)
        }
        for file in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "secret", "lock"] {
            XCTAssertEqual(try mode(directory + "/" + file), 0o600, file)
        }
        XCTAssertEqual(try mode(store.blobPath(cid)), 0o600)
    }

    func testOnlyFilesOfGoneWritersAreClearedAtOpen() throws {
        _ = try Store(directory: directory, inlineLimit: 0)
        let tmp = directory + "/tmp/"
        let own = "\(getpid()).live", gone = "\(Int32.max).dead", old = "\(getpid()).old"
        for name in [own, gone, old, "unnamed"] { XCTAssertTrue(FileManager.default.createFile(atPath: tmp + name, contents: Data([1]))) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -2 * 86_400)], ofItemAtPath: tmp + old)
        _ = try Store(directory: directory, inlineLimit: 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), [own])
    }

    func testExpiredEntriesStayFindableButLeaveListings() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let now = Int64(Date().timeIntervalSince1970)
        let expired = try store.upsertEntry(entry("gone", expires: now))
        XCTAssertEqual(try store.entry(requestCID: "gone", upstream: "u1"), expired)
        XCTAssertEqual(try store.entry(id: expired.id), expired)
        XCTAssertTrue(try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1", liveAt: now,
                                        afterID: 0, upToID: store.maxEntryID(), limit: 10).isEmpty)
        XCTAssertEqual(try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1", liveAt: now - 1,
                                         afterID: 0, upToID: store.maxEntryID(), limit: 10), [expired])
    }

    func testAccessesAreRecordedInABatch() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let a = try store.upsertEntry(entry("a")), b = try store.upsertEntry(entry("b"))
        try store.recordAccesses([(id: a.id, hits: 2, lastAccess: a.fetched + 10), (id: b.id, hits: 5, lastAccess: b.fetched + 20),
                                  (id: 9_999, hits: 1, lastAccess: 1)])
        try store.recordAccesses([(id: a.id, hits: 1, lastAccess: a.fetched + 30)])
        try store.recordAccesses([])
        let first = try XCTUnwrap(store.entry(id: a.id)), second = try XCTUnwrap(store.entry(id: b.id))
        XCTAssertEqual(first.hits, 3)
        XCTAssertEqual(first.lastAccess, a.fetched + 30)
        XCTAssertEqual(second.hits, 5)
        XCTAssertEqual(second.lastAccess, b.fetched + 20)
    }

    func testInvalidationScansAllAndByPage() throws {
        let store = try storeWithFiveLiveEntries("c", now: Int64(Date().timeIntervalSince1970))
        XCTAssertEqual(try store.entries(namespace: "openai", op: "chat.completions", upstream: "u1").count, 6)
        XCTAssertEqual(try store.entries(namespace: "openai", op: nil, upstream: "u1").count, 7)
        XCTAssertTrue(try store.entries(namespace: "openai", op: nil, upstream: "u2").isEmpty)
        var seen: [String] = [], after: Int64 = 0
        while true {
            let page = try store.entries(namespace: "openai", op: nil, upstream: "u1", afterID: after, limit: 3)
            guard let last = page.last else { break }
            XCTAssertLessThanOrEqual(page.count, 3)
            seen += page.map(\.requestCID)
            after = last.id
        }
        XCTAssertEqual(seen, ["c0", "c1", "c2", "c3", "c4", "expired", "other-op"])
        XCTAssertEqual(try store.entries(namespace: "openai", op: "embeddings", upstream: "u1", afterID: 0, limit: 10).map(\.requestCID), ["other-op"])
    }

    func testRemovingAKeyDocumentRemovesItsEntries() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let request = fakeCID(7)
        try store.putBlob(cid: request, bytes: Array("{}".utf8), kind: "key")
        _ = try store.upsertEntry(entry(request, content: fakeCID(8)))
        XCTAssertEqual(try store.removeBlob(request).map(\.requestCID), [request])
        XCTAssertNil(try store.entry(requestCID: request, upstream: "u1"))
        XCTAssertEqual(try store.blobStats().count, 0)
    }

    func testConcurrentSecretCreationAgrees() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let results = Mutex<[[UInt8]]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if let secret = try? store.secret() { results.withLock { $0.append(secret) } }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, 8)
        XCTAssertEqual(Set(all).count, 1)
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: directory + "/tmp").isEmpty)
    }

    func testLockIsExclusive() throws {
        _ = try Store(directory: directory, inlineLimit: 0)
        let lock = try Store.lockDirectory(directory)
        XCTAssertThrowsError(try Store.lockDirectory(directory)) { error in
            XCTAssertEqual((error as? CacheError)?.kind, .busy)
        }
        lock.release()
        XCTAssertNoThrow(try Store.lockDirectory(directory))
    }
}

final class StoreMaintenanceTests: StoreTestCase {
    /// Stores a body and its key document and indexes an entry for them.
    private func cache(_ store: Store, _ text: String, lastAccess: Int64 = 0) throws -> EntryRecord {
        let body = Array(text.utf8), key = Array("{\"k\":\"\(text)\"}".utf8)
        let content = CID.forContent(body).string, request = CID.forKeyDocument(key).string
        try store.putBlob(cid: content, bytes: body)
        try store.putBlob(cid: request, bytes: key, kind: "key")
        let now = Int64(Date().timeIntervalSince1970)
        let entry = try store.upsertEntry(NewEntry(requestCID: request, upstream: "u", namespace: "openai", op: "embeddings",
                                                   contentCID: content, size: Int64(body.count), fetched: now,
                                                   expires: now + 60, ttl: 60, tokens: 0, costUSD: 0, fetchMs: 1))
        if lastAccess > 0 { try store.recordAccesses([(id: entry.id, hits: 1, lastAccess: lastAccess)]) }
        return entry
    }

    func testVerifyKeepsGoodBytesAndDropsBadOnes() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let good = try cache(store, "good answer")
        let bad = try cache(store, "bad answer")
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.blobPath(bad.contentCID)))
        _ = FileManager.default.createFile(atPath: directory + "/blobs/zz-stray", contents: nil)
        try FileManager.default.createDirectory(atPath: directory + "/blobs/qq", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/blobs/qq/bafkreistray", contents: Data([1]))
        _ = FileManager.default.createFile(atPath: directory + "/tmp/half", contents: Data([1]))

        let report = try store.verify()
        XCTAssertTrue(report.indexIntact)
        XCTAssertEqual(report.blobsChecked, 4)
        XCTAssertEqual(report.badBlobs, [bad.contentCID])
        XCTAssertEqual(report.droppedEntries.map(\.id), [bad.id])
        XCTAssertEqual(report.strayFiles, 1)
        XCTAssertEqual(report.temporaryFilesRemoved, 1)
        XCTAssertNotNil(try store.entry(id: good.id))
        XCTAssertNil(try store.entry(id: bad.id))
        XCTAssertEqual(try store.verify().badBlobs, [])
    }

    func testVerifyDropsEntriesWhoseBytesAreGone() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let entry = try cache(store, "vanishing")
        unlink(store.blobPath(entry.contentCID))
        let report = try store.verify()
        XCTAssertEqual(report.badBlobs, [entry.contentCID])
        XCTAssertNil(try store.entry(id: entry.id))
    }

    func testVerifyChecksBytesKeptInTheIndex() throws {
        let store = try Store(directory: directory)
        let good = try cache(store, "good answer")
        let bad = try cache(store, "bad answer")
        try store.write { db in
            try db.execute(sql: "UPDATE blobs SET inline = ? WHERE cid = ?", arguments: [Data("tampered!!".utf8), bad.contentCID])
        }
        let report = try store.verify()
        XCTAssertEqual(report.blobsChecked, 4)
        XCTAssertEqual(report.badBlobs, [bad.contentCID])
        XCTAssertEqual(report.droppedEntries.map(\.id), [bad.id])
        XCTAssertNotNil(try store.entry(id: good.id))
    }

    func testEvictionDropsTheLeastRecentlyUsedFirst() throws {
        let store = try Store(directory: directory, inlineLimit: 0)
        let old = try cache(store, "old old old old", lastAccess: 100)
        let recent = try cache(store, "recent recent recent", lastAccess: 200)
        let budget = try store.blobStats().bytes - 1
        let evicted = try store.evict(toFit: budget)
        XCTAssertEqual(evicted.map(\.id), [old.id])
        XCTAssertNotNil(try store.entry(id: recent.id))
        XCTAssertNil(try store.blobSize(old.contentCID))
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.blobPath(old.contentCID)))
        XCTAssertLessThanOrEqual(try store.blobStats().bytes, budget)
    }
}
