import CidCacheCore
@testable import CidCacheShared
import XCTest

/// Each sample of a sampled request is its own record (docs/REFERENCE.md §13.1-13.4): its own key,
/// a signed `sample` member, and for sealed records associated data that names the sample.
final class SharedSampleRecordTests: XCTestCase {
    let scope = SharedScope.public(upstream: "0123456789abcdef")!
    let signer = Ed25519PrivateKey.generate()
    let request = CID.forKeyDocument(Array(#"{"model":"m"}"#.utf8))
    let answer = Array(#"{"answer":"one of many"}"#.utf8)

    private func record(sample: Int) -> SharedRecord {
        SharedRecord(upstream: "https://api.example", scope: scope, requestCID: request, contentCID: CID.forContent(answer),
                     size: answer.count, created: 100, expires: 200, sample: sample)
    }

    private func verify(_ bytes: [UInt8], sample: Int) throws(SharedRefusal) -> SharedRecord {
        try SharedRecord.verify(bytes, trustedKeys: [signer.publicKey], notBefore: 0, scope: scope, requestCID: request,
                                sample: sample, now: 150)
    }

    func testEverySampleButTheFirstHasAKeyOfItsOwn() {
        let layout = SharedLayout(prefix: "cidcache")
        XCTAssertEqual(layout.recordKey(scope: scope, request: request, sample: 0), layout.recordKey(scope: scope, request: request))
        XCTAssertEqual(layout.recordKey(scope: scope, request: request, sample: 2),
                       "cidcache/v1/idx/\(scope.name)/\(request.string).2")
    }

    func testTheSampleIsSignedAndARecordServesOnlyItsOwnSample() throws {
        let first = record(sample: 0).signed(with: signer)
        XCTAssertNil(try XCTUnwrap(CanonicalJSON.parse(first).objectValue)["sample"], "sample 0's record is as before samples")
        let third = record(sample: 2).signed(with: signer)
        XCTAssertEqual(try XCTUnwrap(CanonicalJSON.parse(third).objectValue)["sample"]?.intValue, 2)
        XCTAssertEqual(try verify(third, sample: 2), record(sample: 2))
        for (bytes, asked) in [(third, 1), (third, 0), (first, 2)] {
            XCTAssertThrowsError(try verify(bytes, sample: asked)) { XCTAssertEqual($0 as? SharedRefusal, .otherSample) }
        }
    }

    func testASealedSampleOpensOnlyUnderItsOwnSample() throws {
        let key = SharedSealingKey.forCredential(Array("hf_credential".utf8), upstream: "0123456789abcdef")
        let sealed = try SharedSealing.sealRecord(record(sample: 1).signed(with: signer), key: key, scope: scope,
                                                  requestCID: request, sample: 1)
        XCTAssertNoThrow(try SharedSealing.openRecord(sealed, key: key, scope: scope, requestCID: request, sample: 1))
        for other in [0, 2] {
            XCTAssertThrowsError(try SharedSealing.openRecord(sealed, key: key, scope: scope, requestCID: request, sample: other)) {
                XCTAssertEqual($0 as? SharedRefusal, .undecryptable)
            }
        }
    }
}
