import CidCacheCore
@testable import CidCacheShared
import Synchronization
import XCTest

/// The tier's breakers over an in-memory store that fails on demand: they
/// open on failures, stay open (the store is not asked), and half-open to
/// one probe. The open interval is either far longer than any test
/// (`breaker_open_ms` 600000: it stays open) or 1 ms, waited out by asking
/// until the probe goes out: no assertion depends on how long anything took.
final class SharedTierBreakerTests: XCTestCase {
    typealias F = TierFixture

    func gets(_ store: MemoryObjectStore) -> Int { store.calls.filter { $0.hasPrefix("get") }.count }

    /// Looks up until the breaker lets one lookup through (the probe); its result.
    func probe(_ tier: SharedTier, _ request: CID) async -> SharedLookup {
        while true {
            let result = await tier.lookup(F.publicPlace, requestCID: request)
            if case .skipped = result {
                try? await Task.sleep(for: .milliseconds(1))
                continue
            }
            return result
        }
    }

    func testFailingLookupsOpenTheReadBreakerWhichThenLeavesTheStoreAlone() async {
        let store = MemoryObjectStore()
        store.failReads(.unavailable("GET cidcache/...: no answer in time"))
        let tier = F.tier(store, #""breaker_failures": 3, "breaker_open_ms": 600000"#)
        let request = F.request("down")
        for _ in 0..<3 {
            guard case .failed(let why) = await tier.lookup(F.publicPlace, requestCID: request) else { return XCTFail() }
            XCTAssertEqual(why, "GET cidcache/...: no answer in time")
        }
        XCTAssertEqual(tier.statistics.readBreaker, "open")
        XCTAssertEqual(tier.statistics.errors, 3)
        store.failReads(nil)
        for _ in 0..<5 {
            guard case .skipped = await tier.lookup(F.publicPlace, requestCID: request) else { return XCTFail("asked while open") }
        }
        XCTAssertEqual(gets(store), 3, "an open breaker leaves the store alone")
        XCTAssertEqual(tier.statistics.readBreaker, "open")
        XCTAssertEqual(tier.statistics.writeBreaker, "closed", "failing lookups never stop uploads")
    }

    /// A tier whose lookups' breaker two failed lookups (`error`) opened for `openMilliseconds`, and its store.
    func openedReadBreaker(_ error: ObjectStoreError = .unavailable("down"),
                           openMilliseconds: Int) async -> (MemoryObjectStore, SharedTier) {
        let store = MemoryObjectStore()
        store.failReads(error)
        let tier = F.tier(store, #""breaker_failures": 2, "breaker_open_ms": \#(openMilliseconds)"#)
        for _ in 0..<2 { _ = await tier.lookup(F.publicPlace, requestCID: F.request("down")) }
        XCTAssertEqual(tier.statistics.readBreaker, "open")
        return (store, tier)
    }

    func testARefusingStoreCountsAsFailingForLookups() async {
        // A bucket that answers 403 to every lookup is left alone too.
        _ = await openedReadBreaker(.refused("GET answered 403 AccessDenied"), openMilliseconds: 600_000)
    }

    func testAProbeThatSucceedsClosesTheBreaker() async {
        let (store, tier) = await openedReadBreaker(openMilliseconds: 1)
        store.failReads(nil)
        let during = Mutex<String?>(nil)
        store.onNextGet.withLock { $0 = { during.withLock { $0 = tier.statistics.readBreaker } } }
        guard case .miss = await probe(tier, F.request("down")) else { return XCTFail("the probe reaches the healed store") }
        XCTAssertEqual(during.withLock { $0 }, "half_open", "the probe goes out half-open")
        XCTAssertEqual(tier.statistics.readBreaker, "closed")
        XCTAssertEqual(gets(store), 3)
    }

    func testAProbeThatFailsOpensTheBreakerAgain() async {
        let (store, tier) = await openedReadBreaker(openMilliseconds: 1)
        guard case .failed = await probe(tier, F.request("down")) else { return XCTFail() }
        XCTAssertEqual(gets(store), 3, "one probe")
        XCTAssertEqual(tier.statistics.readBreaker, "open")
    }

    /// A tier whose store fails every write with `error`, after `count` uploads tried.
    func failedUploads(_ error: ObjectStoreError, count: Int) async -> SharedTier {
        let store = MemoryObjectStore()
        store.failWrites(error)
        let tier = F.tier(store, #""breaker_failures": 2, "breaker_open_ms": 600000"#)
        for index in 0..<count {
            let uploaded = await tier.uploadNow(F.upload("write \(index)"))
            XCTAssertFalse(uploaded)
        }
        XCTAssertEqual(tier.statistics.uploadErrors, count)
        return tier
    }

    func testUnavailableWritesOpenTheWriteBreakerAndLaterUploadsAreDropped() async {
        let tier = await failedUploads(.unavailable("PUT answered 503 SlowDown"), count: 2)
        XCTAssertEqual(tier.statistics.writeBreaker, "open")
        XCTAssertFalse(tier.publish(F.upload("dropped")))
        XCTAssertEqual(tier.statistics.uploadDropped, 1)
        XCTAssertEqual(tier.statistics.readBreaker, "closed", "failing uploads never stop lookups")
        guard case .miss = await tier.lookup(F.publicPlace, requestCID: F.request("still read")) else { return XCTFail() }
    }

    func testRefusedWritesAreCountedWithoutOpeningTheWriteBreaker() async {
        let tier = await failedUploads(.refused("write cidcache/...: Read-only file system"), count: 5)
        XCTAssertEqual(tier.statistics.writeBreaker, "closed", "a read-only store is not a failing one")
    }
}
