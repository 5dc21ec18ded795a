import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class OVMSFamilyTests: XCTestCase {
    private let family = OVMSFamily()
    private let infer = #"{"model":"resnet","id":"r1","inputs":[{"name":"0","shape":[1,3],"datatype":"FP32","data":[0.1,0.2,0.3]}]}"#

    func testRequestPathAndBodyWithoutTheModel() throws {
        let server = Endpoint(baseURL: "http://127.0.0.1:8000", credential: nil)
        let request = try family[op: "infer"].httpRequest(try object(infer), body: Array(infer.utf8), endpoint: server)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.url, "http://127.0.0.1:8000/v2/models/resnet/infer")
        XCTAssertEqual(request.header("content-type"), "application/json")
        XCTAssertNil(request.header("authorization"))
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self),
                       #"{"id":"r1","inputs":[{"name":"0","shape":[1,3],"datatype":"FP32","data":[0.1,0.2,0.3]}]}"#)
    }

    func testVersionsLeaveTheBodyToo() throws {
        let endpoint = Endpoint(baseURL: "http://ovms:9001/", credential: "tok")
        let numbered = #"{"inputs":[], "model_version":2,"model":"face detect"}"#
        let request = try family[op: "infer"].httpRequest(try object(numbered), body: Array(numbered.utf8), endpoint: endpoint)
        XCTAssertEqual(request.url, "http://ovms:9001/v2/models/face%20detect/versions/2/infer")
        XCTAssertEqual(String(decoding: request.body ?? [], as: UTF8.self), #"{"inputs":[]}"#)
        XCTAssertEqual(request.header("authorization"), "Bearer tok")
        let named = #"{"model":"m","model_version":"v1","inputs":[]}"#
        XCTAssertEqual(try family[op: "infer"].httpRequest(try object(named), body: Array(named.utf8), endpoint: endpoint).url,
                       "http://ovms:9001/v2/models/m/versions/v1/infer")
    }

    func testTTLDroppedFieldsAndValidation() throws {
        XCTAssertEqual(family[op: "infer"].defaultTTL(try object(infer)), 1800)
        XCTAssertEqual(family[op: "infer"].droppedFields, [])
        XCTAssertNoThrow(try family[op: "infer"].validate(try object(infer)))
        for bad in [#"{"inputs":[]}"#, #"{"model":"m"}"#, #"{"model":"m","inputs":{}}"#, #"{"model":"","inputs":[]}"#,
                    #"{"model":"..","inputs":[]}"#, #"{"model":"m","model_version":-1,"inputs":[]}"#,
                    #"{"model":"m","model_version":1.5,"inputs":[]}"#, #"{"model":"m","model_version":true,"inputs":[]}"#] {
            XCTAssertThrowsError(try family[op: "infer"].validate(try object(bad)), bad) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
            }
        }
        XCTAssertFalse(family.requiresCredential)
    }
}
