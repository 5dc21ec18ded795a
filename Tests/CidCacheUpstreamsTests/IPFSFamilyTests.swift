import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class IPFSFamilyTests: XCTestCase {
    private let family = IPFSFamily()
    private let kubo = Endpoint(baseURL: "http://127.0.0.1:5001", credential: nil)
    private let cid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"

    private func call(_ op: String, _ request: String) throws -> UpstreamHTTPRequest {
        let parsed = try object(request)
        try family[op: op].validate(parsed)
        return try family[op: op].httpRequest(parsed, body: Array(request.utf8), endpoint: kubo)
    }

    func testCalls() throws {
        let stat = try call("stat", #"{"cid":"\#(cid)"}"#)
        XCTAssertEqual(stat.method, "POST")
        XCTAssertNil(stat.body)
        XCTAssertTrue(stat.headers.isEmpty)
        XCTAssertEqual(stat.url, "http://127.0.0.1:5001/api/v0/files/stat?arg=%2Fipfs%2F\(cid)")
        XCTAssertEqual(try call("stat", #"{"cid":"\#(cid)","block":true}"#).url, "http://127.0.0.1:5001/api/v0/block/stat?arg=\(cid)")
        XCTAssertEqual(try call("stat", #"{"path":"/my dir/f","with-local":true}"#).url,
                       "http://127.0.0.1:5001/api/v0/files/stat?arg=%2Fmy%20dir%2Ff&with-local=true")
        XCTAssertEqual(try call("dht.findprovs", #"{"cid":"\#(cid)","num-providers":5}"#).url,
                       "http://127.0.0.1:5001/api/v0/routing/findprovs?arg=\(cid)&num-providers=5")
        XCTAssertEqual(try call("pin.ls", "{}").url, "http://127.0.0.1:5001/api/v0/pin/ls")
        XCTAssertEqual(try call("pin.ls", #"{"cid":"\#(cid)","type":"recursive"}"#).url,
                       "http://127.0.0.1:5001/api/v0/pin/ls?arg=\(cid)&type=recursive")
    }

    func testValidation() throws {
        let bad: [(String, String)] = [
            ("stat", "{}"), ("stat", #"{"cid":""}"#), ("stat", #"{"cid":"a","path":"/b"}"#), ("stat", #"{"path":"/b","block":true}"#),
            ("stat", #"{"cid":"a","block":"yes"}"#), ("dht.findprovs", "{}"), ("dht.findprovs", #"{"path":"/ipfs/x"}"#),
            ("pin.ls", #"{"cid":7}"#), ("pin.ls", #"{"type":{"a":1}}"#),
        ]
        for (op, request) in bad {
            XCTAssertThrowsError(try family[op: op].validate(try object(request)), "\(op) \(request)") {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, "\(op) \(request)")
            }
        }
    }

    func testTTLsAndStreams() throws {
        XCTAssertEqual(family[op: "stat"].defaultTTL(JSONObject()), 3600)
        XCTAssertEqual(family[op: "dht.findprovs"].defaultTTL(JSONObject()), 600)
        XCTAssertEqual(family[op: "pin.ls"].defaultTTL(JSONObject()), 300)
        XCTAssertTrue(family[op: "dht.findprovs"].streams(JSONObject()))
        XCTAssertFalse(family[op: "pin.ls"].streams(JSONObject()))
        XCTAssertTrue(family[op: "pin.ls"].streams(try object(#"{"stream":true}"#)))
        XCTAssertTrue(family[op: "dht.findprovs"].isComplete(Array(#"{"ID":"","Type":4,"Responses":[{"ID":"12D3","Addrs":[]}],"Extra":""}"#.utf8) + [0x0A]))
        XCTAssertTrue(family[op: "dht.findprovs"].isComplete([]))
        XCTAssertFalse(family[op: "dht.findprovs"].isComplete(Array(#"{"ID":"","Type":4,"Resp"#.utf8)))
    }

    func testKuboErrors() {
        func body(_ message: String, code: Int = 0) -> [UInt8] {
            Array(#"{"Message":"\#(message)","Code":\#(code),"Type":"error"}"#.utf8)
        }
        XCTAssertEqual(family[op: "pin.ls"].mappedError(status: 500, headers: [], body: body("path '\(cid)' is not pinned"))?.kind, .notFound)
        XCTAssertEqual(family[op: "stat"].mappedError(status: 500, headers: [], body: body("file does not exist"))?.kind, .notFound)
        XCTAssertEqual(family[op: "stat"].mappedError(status: 400, headers: [], body: body("argument cid is required", code: 1))?.kind, .invalidRequest)
        XCTAssertEqual(family[op: "stat"].mappedError(status: 500, headers: [], body: body("invalid path x: invalid cid"))?.kind, .invalidRequest)
        let other = family[op: "stat"].mappedError(status: 500, headers: [], body: body("context deadline exceeded"))
        XCTAssertEqual(other?.kind, .io)
        XCTAssertEqual(other?.status, 500)
        XCTAssertTrue(other?.message.contains("context deadline exceeded") ?? false)
        XCTAssertEqual(family[op: "stat"].mappedError(status: 429, headers: [], body: body("slow down", code: 3))?.kind, .busy)
        // A plain-text body (a proxy's, Kubo's 404) is read as its first line, mapped by its status.
        let text = family[op: "stat"].mappedError(status: 502, headers: [], body: Array("Bad Gateway\n<address>proxy</address>\n".utf8))
        XCTAssertEqual(text?.kind, .io)
        XCTAssertEqual(text?.message, "upstream answered 502: Bad Gateway")
    }
}
