import CidCacheCore
@testable import CidCacheShared
import CidCacheUpstreams
import NIOCore
import Synchronization
import XCTest

/// The config's `shared` section, the bucket's credentials, and the upload queue's bound.
final class SharedTierConfigTests: XCTestCase {
    func parse(_ text: String) throws(CacheError) -> SharedTierConfig {
        let object = try! CanonicalJSON.parse(Array(text.utf8)).objectValue!
        return try SharedTierConfig(parsing: object, source: "test.json")
    }

    func testDefaultsAndEveryMember() throws {
        let minimal = try parse(#"{"url": "http://127.0.0.1:9000", "bucket": "team"}"#)
        XCTAssertEqual(minimal.prefix, "cidcache")
        XCTAssertEqual(minimal.storage, .bucket(url: "http://127.0.0.1:9000", bucket: "team", region: "us-east-1"))
        XCTAssertNil(minimal.signingKeyPath)
        XCTAssertEqual(minimal.timeoutMilliseconds, 500)
        XCTAssertEqual(minimal.breakerOpenMilliseconds, 1_000, "a healed bucket is used again within seconds")
        XCTAssertTrue(minimal.upload)
        let key = try Ed25519PrivateKey(seed: [UInt8](repeating: 0x11, count: 32)).publicKey
        let full = try parse("""
            {"url": "https://s3.example", "bucket": "b", "prefix": "", "region": "eu-west-1", "signing_key": "/k",
             "trusted_keys": ["\(key.text)"], "not_before": 7, "timeout_ms": 30, "upload": false, "upload_timeout_ms": 40,
             "upload_queue": 2, "breaker_failures": 5, "breaker_open_ms": 60}
            """)
        XCTAssertEqual(full.prefix, "")
        XCTAssertEqual(full.storage, .bucket(url: "https://s3.example", bucket: "b", region: "eu-west-1"))
        XCTAssertEqual(full.trustedKeys, [key])
        XCTAssertEqual([full.notBefore, full.timeoutMilliseconds, full.uploadTimeoutMilliseconds, full.uploadQueueLimit,
                        full.breakerFailures, full.breakerOpenMilliseconds], [7, 30, 40, 2, 5, 60])
        XCTAssertFalse(full.upload)
    }

    func testBadSectionsNameTheMember() {
        let cases = [
            (#"{"bucket": "b"}"#, "shared.url"),
            (#"{"url": "http://h"}"#, "shared.bucket"),
            (#"{"url": "http://h", "bucket": "b", "timeout_ms": 0}"#, "shared.timeout_ms"),
            (#"{"url": "http://h", "bucket": "b", "trusted_keys": ["ed25519:short"]}"#, "shared.trusted_keys"),
            (#"{"url": "http://h", "bucket": "b", "trusted_keys": "ed25519:x"}"#, "shared.trusted_keys"),
            (#"{"url": "http://h", "bucket": "b", "upload": "yes"}"#, "shared.upload"),
            (#"{"url": "http://h", "bucket": "b", "secret_access_key": "x"}"#, "shared.secret_access_key"),
            (#"{"url": "file:///srv/cache", "bucket": "b"}"#, "shared.bucket"),
            (#"{"url": "file:///srv/cache", "region": "eu-west-1"}"#, "shared.region"),
            (#"{"url": "file://fileserver/srv/cache"}"#, "shared.url"),
            (#"{"url": "file:relative/cache"}"#, "shared.url"),
            (#"{"url": "file:///srv/cache", "prefix": "team/../../etc"}"#, "shared.prefix"),
        ]
        for (text, member) in cases {
            do {
                _ = try parse(text)
                XCTFail("accepted \(text)")
            } catch {
                XCTAssertEqual(error.kind, .invalidRequest)
                XCTAssertTrue(error.message.contains(member), "\(error.message) should name \(member)")
            }
        }
    }

    func testAFileURLIsADirectoryWithoutBucketOrCredentials() async throws {
        XCTAssertEqual(try parse(#"{"url": "file:///srv/team%20cache"}"#).storage, .directory(path: "/srv/team cache"))
        XCTAssertEqual(try parse(#"{"url": "FILE://localhost/srv/cache", "prefix": "ci/llm"}"#).storage,
                       .directory(path: "/srv/cache"))
        let store = try parse(#"{"url": "file:///srv/cache"}"#).openStore(environment: ["AWS_ACCESS_KEY_ID": "id-not-real",
                                                                                         "AWS_SECRET_ACCESS_KEY": "not-real"])
        XCTAssertTrue(store is DirectoryObjectStore)
        await store.shutdown()
    }

    func testCredentialsPreferOurVariablesThenAWS() {
        let ours = ["CIDCACHE_SHARED_ACCESS_KEY_ID": "test-id-not-real", "CIDCACHE_SHARED_SECRET_ACCESS_KEY": "test-secret-not-real",
                    "AWS_ACCESS_KEY_ID": "aws-id-not-real", "AWS_SECRET_ACCESS_KEY": "aws-secret-not-real"]
        XCTAssertEqual(SharedTierConfig.credentials(environment: ours)?.accessKeyID, "test-id-not-real")
        let aws = ["AWS_ACCESS_KEY_ID": "aws-id-not-real", "AWS_SECRET_ACCESS_KEY": "aws-secret-not-real",
                   "AWS_SESSION_TOKEN": "aws-token-not-real", "CIDCACHE_SHARED_ACCESS_KEY_ID": "half-a-pair"]
        XCTAssertEqual(SharedTierConfig.credentials(environment: aws)?.sessionToken, "aws-token-not-real")
        XCTAssertNil(SharedTierConfig.credentials(environment: [:]))
    }

    func testBucketURLMustBeAnOrigin() {
        for url in ["ftp://h", "http://", "http://h/path", "h:9000"] {
            XCTAssertThrowsError(try S3ObjectStore(location: BucketLocation(url: url, bucket: "b", region: "r", credentials: nil),
                                                  readTimeoutMilliseconds: 10, writeTimeoutMilliseconds: 10), url)
        }
        XCTAssertNoThrow(try S3ObjectStore(location: BucketLocation(url: "http://127.0.0.1:9000/", bucket: "b", region: "r",
                                                                  credentials: nil),
                                          readTimeoutMilliseconds: 10, writeTimeoutMilliseconds: 10))
    }

    /// The queue refuses offers past its limit while its workers are busy, and takes them again once they are not.
    func testUploadQueueDropsWhenFull() async {
        let queue = UploadQueue(limit: 2)
        final class Flag: Sendable { let raised = Atomic<Bool>(false) }
        let released = Flag()
        let started = AsyncStream<Void>.makeStream()
        let blocked: UploadQueue.Job = {
            started.continuation.yield()
            while !released.raised.load(ordering: .acquiring) { try? await Task.sleep(nanoseconds: 1_000_000) }
        }
        var starts = started.stream.makeAsyncIterator()
        for _ in 0..<UploadQueue.concurrency {
            XCTAssertTrue(queue.offer(blocked))
            await starts.next()  // one at a time: the buffer holds only `limit`
        }
        // Every worker busy: `limit` more wait in the buffer (one more when the loop
        // already holds it, waiting for a free worker); the rest are refused.
        let accepted = (0..<10).filter { _ in queue.offer { } }.count
        XCTAssertTrue((2...3).contains(accepted), "accepted \(accepted) of 10 past four running, limit 2")
        XCTAssertFalse(queue.offer { }, "full")
        released.raised.store(true, ordering: .releasing)
        let left = await queue.close(drainingFor: .seconds(600))
        XCTAssertEqual(left, 0, "every job ran")
        XCTAssertFalse(queue.offer { }, "closed")
    }
}
