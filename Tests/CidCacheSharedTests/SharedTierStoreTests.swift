import CidCacheCore
@testable import CidCacheShared
import Synchronization
import XCTest

/// The tier over an in-memory store: lookups, uploads, and which record
/// keeps its place when two machines write one (the newer `created` wins).
final class SharedTierStoreTests: XCTestCase {
    typealias F = TierFixture

    func testAnUploadedAnswerIsAHitOnAnotherMachine() async throws {
        let store = MemoryObjectStore()
        let writer = F.tier(store), reader = F.tier(store, writes: false)
        let upload = F.upload("shared")
        let uploaded = await writer.uploadNow(upload)
        XCTAssertTrue(uploaded)
        XCTAssertEqual(store.keys, [F.blobKey(upload), F.recordKey(upload)].sorted())
        XCTAssertEqual(store[F.blobKey(upload)], upload.body, "a public body is the answer as it came")
        XCTAssertEqual(store.calls, ["put \(F.blobKey(upload)) absent", "put \(F.recordKey(upload)) absent"],
                       "the body first, the record (the commit point) last")
        guard case .hit(let record, let body) = await reader.lookup(F.publicPlace, requestCID: upload.requestCID) else {
            return XCTFail("no hit")
        }
        XCTAssertEqual(body, upload.body)
        XCTAssertEqual([record.size, record.created, record.tokens], [upload.body.count, upload.created, 7])
        XCTAssertEqual(record.contentCID, upload.contentCID)
        XCTAssertEqual(record.contentType, "application/json")
        XCTAssertEqual(writer.statistics.uploads, 1)
        XCTAssertEqual([reader.statistics.hits, reader.statistics.misses, reader.statistics.rejected], [1, 0, 0])
    }

    func testNothingThereIsAMissAndSoIsARecordWhoseBodyIsGone() async {
        let store = MemoryObjectStore()
        let tier = F.tier(store)
        guard case .miss = await tier.lookup(F.publicPlace, requestCID: F.request("never asked")) else { return XCTFail() }
        let upload = F.upload("lifecycle")
        _ = await tier.uploadNow(upload)
        store[F.blobKey(upload)] = nil  // a lifecycle rule took the body
        guard case .miss = await tier.lookup(F.publicPlace, requestCID: upload.requestCID) else { return XCTFail() }
        XCTAssertEqual([tier.statistics.misses, tier.statistics.rejected, tier.statistics.errors], [2, 0, 0])
    }

    func testACredentialScopedEntryIsSealedAndFoundOnlyWithItsCredential() async throws {
        let store = MemoryObjectStore()
        let tier = F.tier(store)
        let upload = F.upload("private repo", body: "secret-answer-marker", place: F.credentialPlace())
        let uploaded = await tier.uploadNow(upload)
        XCTAssertTrue(uploaded)
        XCTAssertTrue(F.blobKey(upload).contains("/blob/s-"), "a scoped body has its scope in its key")
        for key in store.keys {
            let object = try XCTUnwrap(store[key])
            XCTAssertNil(object.firstRange(of: Array("secret-answer-marker".utf8)), "\(key) holds the plaintext")
            XCTAssertNil(try? CanonicalJSON.parse(object), "\(key) is sealed")
        }
        guard case .hit(_, let body) = await tier.lookup(F.credentialPlace(), requestCID: upload.requestCID) else {
            return XCTFail("the same credential finds it")
        }
        XCTAssertEqual(body, upload.body)
        let other = F.credentialPlace("sk-test-not-a-real-key-0002")
        guard case .miss = await tier.lookup(other, requestCID: upload.requestCID) else { return XCTFail("another scope") }
    }

    func testAReadOnlyMachineUploadsNothing() async {
        let store = MemoryObjectStore()
        let reader = F.tier(store, writes: false), unwilling = F.tier(store, #""upload": false"#)
        for tier in [reader, unwilling] {
            XCTAssertFalse(tier.writes)
            XCTAssertFalse(tier.publish(F.upload("read-only")))
            let uploaded = await tier.uploadNow(F.upload("read-only"))
            XCTAssertFalse(uploaded)
        }
        XCTAssertEqual(store.calls, [])
    }

    func testTheNewerRecordReplacesAnOlderOneAndNeverTheReverse() async throws {
        let store = MemoryObjectStore()
        let tier = F.tier(store)
        let first = F.upload("refreshed", body: "first", created: F.now - 100)
        let newer = F.upload("refreshed", body: "newer", created: F.now - 10)
        let older = F.upload("refreshed", body: "older", created: F.now - 50)
        for upload in [first, newer, older] {
            let uploaded = await tier.uploadNow(upload)
            XCTAssertTrue(uploaded, "in the store: written, or found there and valid")
        }
        guard case .hit(let record, let body) = await tier.lookup(F.publicPlace, requestCID: newer.requestCID) else {
            return XCTFail()
        }
        XCTAssertEqual(body, Array("newer".utf8))
        XCTAssertEqual(record.created, newer.created)
        let recordPuts = store.calls.filter { $0.hasPrefix("put \(F.recordKey(first))") }
        XCTAssertEqual(recordPuts.count, 4, "\(recordPuts)")
        XCTAssertTrue(recordPuts[2].contains("matching"), "the replacement names the ETag it read: \(recordPuts)")
        XCTAssertTrue(recordPuts[3].hasSuffix("absent"), "the older one tried only where nothing was")
    }

    func testARecordThisMachineDoesNotTrustIsReplaced() async throws {
        let store = MemoryObjectStore()
        let tier = F.tier(store)
        let upload = F.upload("squatted", created: F.now - 5)
        let squatter = SharedRecord(upstream: F.upstream, scope: F.publicPlace.scope, requestCID: upload.requestCID,
                                    contentCID: upload.contentCID, size: upload.body.count, created: F.now,
                                    expires: F.now + 86_400)
        store[F.recordKey(upload)] = squatter.signed(with: F.untrustedKey)
        let uploaded = await tier.uploadNow(upload)
        XCTAssertTrue(uploaded)
        guard case .hit(let record, _) = await tier.lookup(F.publicPlace, requestCID: upload.requestCID) else { return XCTFail() }
        XCTAssertEqual(record.created, upload.created, "the team's record took the untrusted one's place")
    }

    func testAWriteInBetweenIsReadAgainAndTheNewestStays() async throws {
        let store = MemoryObjectStore()
        let tier = F.tier(store)
        let old = F.upload("raced", body: "old", created: F.now - 100)
        let mine = F.upload("raced", body: "mine", created: F.now - 50)
        let theirs = F.upload("raced", body: "theirs", created: F.now - 1)
        _ = await tier.uploadNow(old)
        store[F.blobKey(theirs)] = theirs.body
        // Between this upload's read of the old record and its replacement, another machine puts a newer one.
        let theirRecord = SharedRecord(upstream: F.upstream, scope: F.publicPlace.scope, requestCID: theirs.requestCID,
                                       contentCID: theirs.contentCID, size: theirs.body.count, created: theirs.created,
                                       expires: theirs.expires).signed(with: F.teamKey)
        store.onNextGet.withLock { $0 = { store[F.recordKey(theirs)] = theirRecord } }
        let uploaded = await tier.uploadNow(mine)
        XCTAssertTrue(uploaded)
        let matching = store.calls.filter { $0.hasPrefix("put \(F.recordKey(mine)) matching") }
        XCTAssertEqual(matching.count, 1, "one replacement tried, and refused: \(store.calls)")
        guard case .hit(let record, let body) = await tier.lookup(F.publicPlace, requestCID: mine.requestCID) else {
            return XCTFail()
        }
        XCTAssertEqual(record.created, theirs.created, "read again, the newer record keeps its place")
        XCTAssertEqual(body, Array("theirs".utf8))
    }

    func testTwoMachinesWritingOneRecordAtOnceLeaveOne() async throws {
        let store = MemoryObjectStore()
        let a = F.tier(store), b = F.tier(store)
        let upload = F.upload("both at once")
        async let first = a.uploadNow(upload)
        async let second = b.uploadNow(upload)
        let results = await [first, second]
        XCTAssertEqual(results, [true, true], "the loser finds an equal record there, valid")
        XCTAssertEqual(store.keys.count, 2)
        XCTAssertEqual(store.calls.filter { $0.contains("matching") }, [], "an equal record is kept: no write for nothing")
    }
}
