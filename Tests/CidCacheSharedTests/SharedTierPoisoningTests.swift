import CidCacheCore
@testable import CidCacheShared
import XCTest

/// What a reader refuses, in process: the eight poisonings the mount tests
/// make in a bucket (test_shared_trust.py's POISONINGS), then the scope and
/// sealing ones. Each is a refusal, counted, never a hit, and never opens the
/// lookups' breaker (the store answered).
final class SharedTierPoisoningTests: XCTestCase {
    typealias F = TierFixture

    /// A store where a writer has published one answer, and that answer.
    func published(_ place: SharedPlace = F.publicPlace) async -> (MemoryObjectStore, SharedUpload) {
        let store = MemoryObjectStore()
        let upload = F.upload("poisoned \(UUID())", body: "the answer", place: place)
        let uploaded = await F.tier(store).uploadNow(upload)
        XCTAssertTrue(uploaded)
        return (store, upload)
    }

    /// The record's members, to edit, and the record as `members` makes it (canonical, unsigned again).
    func members(_ store: MemoryObjectStore, _ key: String) throws -> JSONObject {
        try XCTUnwrap(CanonicalJSON.parse(XCTUnwrap(store[key])).objectValue)
    }

    func serialize(_ object: JSONObject) -> [UInt8] {
        CanonicalJSON.serialize(.object(object))
    }

    /// Looks `request` up in `place` with a reader (configured with `extra`) and expects `refusal`.
    func assertRefused(_ store: MemoryObjectStore, _ place: SharedPlace, _ request: CID, _ refusal: SharedRefusal,
                       _ extra: String = "", line: UInt = #line) async {
        let reader = F.tier(store, writes: false, extra)
        for _ in 0..<4 {  // more than breaker_failures: refusals are not failures
            guard case .refused(let got) = await reader.lookup(place, requestCID: request) else {
                return XCTFail("not refused", line: line)
            }
            XCTAssertEqual(got, refusal, line: line)
        }
        let stats = reader.statistics
        XCTAssertEqual([stats.rejected, stats.hits, stats.errors], [4, 0, 0], line: line)
        XCTAssertEqual(stats.readBreaker, "closed", line: line)
    }

    func testAReplacedBlobIsRefused() async {
        let (store, upload) = await published()
        store[F.blobKey(upload)] = Array("the POISON".utf8)  // same size: only the CID tells
        await assertRefused(store, F.publicPlace, upload.requestCID, .contentMismatch)
    }

    func testAnEditedExpiryIsRefused() async throws {
        let (store, upload) = await published()
        var record = try members(store, F.recordKey(upload))
        record["expires"] = .number(Double(upload.expires + 365 * 86_400))
        store[F.recordKey(upload)] = serialize(record)
        await assertRefused(store, F.publicPlace, upload.requestCID, .badSignature)
    }

    func testAnEditedContentCIDIsRefused() async throws {
        let (store, upload) = await published()
        let poison = Array("the POISON".utf8)
        store[SharedLayout(prefix: "cidcache").blobKey(CID.forContent(poison), scope: F.publicPlace.scope)] = poison
        var record = try members(store, F.recordKey(upload))
        record["content_cid"] = .string(CID.forContent(poison).string)
        store[F.recordKey(upload)] = serialize(record)
        await assertRefused(store, F.publicPlace, upload.requestCID, .badSignature)
    }

    func testAnUnsignedRecordIsRefused() async throws {
        let (store, upload) = await published()
        store[F.recordKey(upload)] = serialize(try members(store, F.recordKey(upload)).removing(keys: ["sig", "key_id"]))
        await assertRefused(store, F.publicPlace, upload.requestCID, .unsigned)
    }

    func testARecordSignedByAnUntrustedKeyIsRefused() async throws {
        let (store, upload) = await published()
        let poison = Array("the POISON".utf8)
        store[SharedLayout(prefix: "cidcache").blobKey(CID.forContent(poison), scope: F.publicPlace.scope)] = poison
        store[F.recordKey(upload)] = SharedRecord(upstream: F.upstream, scope: F.publicPlace.scope, requestCID: upload.requestCID,
                                                  contentCID: CID.forContent(poison), size: poison.count, created: F.now,
                                                  expires: F.now + 3600).signed(with: F.untrustedKey)
        await assertRefused(store, F.publicPlace, upload.requestCID, .unknownKey(F.untrustedKey.publicKey.text))
    }

    func testARecordCopiedUnderAnotherRequestIsRefused() async {
        let (store, upload) = await published()
        let other = F.request("another request")
        store[SharedLayout(prefix: "cidcache").recordKey(scope: F.publicPlace.scope, request: other)] = store[F.recordKey(upload)]
        await assertRefused(store, F.publicPlace, other, .otherRequest)
    }

    func testARecordThatIsNotJSONIsRefused() async throws {
        let (store, upload) = await published()
        store[F.recordKey(upload)] = [0] + Array("not a record".utf8) + [0xFF] + (try XCTUnwrap(store[F.recordKey(upload)])).prefix(40)
        await assertRefused(store, F.publicPlace, upload.requestCID, .malformed("not JSON"))
    }

    func testARecordCreatedBeforeNotBeforeIsRefused() async {
        let (store, upload) = await published()
        await assertRefused(store, F.publicPlace, upload.requestCID, .createdBeforeNotBefore, #""not_before": \#(upload.created + 1)"#)
    }

    func testAnExpiredRecordIsRefused() async {
        let (store, upload) = await published()
        store[F.recordKey(upload)] = SharedRecord(upstream: F.upstream, scope: F.publicPlace.scope, requestCID: upload.requestCID,
                                                  contentCID: upload.contentCID, size: upload.body.count, created: F.now - 3600,
                                                  expires: F.now - 60).signed(with: F.teamKey)
        await assertRefused(store, F.publicPlace, upload.requestCID, .expired)
    }

    func testARecordMovedToAnotherScopeIsRefused() async throws {
        let (store, upload) = await published()
        let elsewhere = try XCTUnwrap(SharedPlace(upstream: "fedcba9876543210", credential: nil))
        store[SharedLayout(prefix: "cidcache").recordKey(scope: elsewhere.scope, request: upload.requestCID)] = store[F.recordKey(upload)]
        await assertRefused(store, elsewhere, upload.requestCID, .otherScope)
    }

    func testASealedRecordMovedToAnotherRequestDoesNotOpen() async throws {
        let place = F.credentialPlace()
        let (store, upload) = await published(place)
        let other = F.request("another sealed request")
        store[SharedLayout(prefix: "cidcache").recordKey(scope: place.scope, request: other)] = store[F.recordKey(upload)]
        await assertRefused(store, place, other, .undecryptable)
    }

    func testATamperedSealedBodyDoesNotOpen() async throws {
        let place = F.credentialPlace()
        let (store, upload) = await published(place)
        var sealed = try XCTUnwrap(store[F.blobKey(upload)])
        sealed[sealed.count / 2] ^= 0x01
        store[F.blobKey(upload)] = sealed
        await assertRefused(store, place, upload.requestCID, .undecryptable)
    }

    func testABodyLargerThanItsRecordIsRefusedUnread() async throws {
        let (store, upload) = await published()
        store[F.blobKey(upload)] = Array(repeating: UInt8(ascii: "x"), count: upload.body.count + 1)
        await assertRefused(store, F.publicPlace, upload.requestCID, .malformed("an object larger than its record allows"))
    }
}
