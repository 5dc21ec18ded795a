import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

/// Answers that fail on the way, streams judged without a stream request, and
/// error bodies that are not JSON.
final class StreamFailureTests: XCTestCase {
    private let kubo = Framing.ndjson(until: .newlineAfterValue, when: .always)

    private func read(_ text: String, _ framing: Framing, failure: StreamFailureSignal? = .goIPFSCmds, chunk: Int = 7,
                      trailers: [(name: String, value: String)] = []) -> AnswerSummary {
        let body = Array(text.utf8)
        var reader = AnswerReader(framing: framing, usage: nil, failure: failure)
        for start in stride(from: 0, to: body.count, by: chunk) {
            reader.consume(body[start..<min(start + chunk, body.count)])
        }
        return reader.finish(body: body, request: [:], trailers: trailers)
    }

    private let events = "{\"ID\":\"\",\"Type\":0}\n{\"ID\":\"\",\"Responses\":[{\"Addrs\":[],\"ID\":\"peer\"}],\"Type\":4}\n"

    func testKuboErrorTrailerFailsAWholeLookingStream() {
        XCTAssertEqual(read(events, kubo), AnswerSummary(isComplete: true, usage: nil))
        let failed = read(events, kubo, trailers: [(name: "x-stream-error", value: "routing: not found")])
        XCTAssertEqual(failed.failure, "routing: not found")
        XCTAssertFalse(failed.isComplete)
        XCTAssertNil(read(events, kubo, trailers: [(name: "X-Stream-Error", value: " ")]).failure, "an empty trailer is none")
        XCTAssertNil(read(events, kubo, failure: nil, trailers: [(name: "X-Stream-Error", value: "x")]).failure,
                     "a family without the signal reads no trailer")
    }

    func testKuboErrorLineFailsTheStreamWhereverItIs() {
        let line = "{\"Message\":\"context deadline exceeded\",\"Code\":0,\"Type\":\"error\"}\n"
        for chunk in [1, 5, 1000] {
            XCTAssertEqual(read(events + line, kubo, chunk: chunk).failure, "context deadline exceeded")
            XCTAssertEqual(read(line + events, kubo, chunk: chunk).failure, "context deadline exceeded")
            XCTAssertEqual(read(events + line.dropLast(), kubo, chunk: chunk).failure, "context deadline exceeded", "no newline after it")
        }
        // A pin whose type is a string is no error line; neither is a message without "Type": "error".
        XCTAssertNil(read("{\"Cid\":\"bafy\",\"Type\":\"recursive\"}\n{\"Message\":\"error\",\"Type\":\"ok\"}\n", kubo).failure)
    }

    func testCompletenessIsJudgedWithoutAStreamRequest() {
        let ollama = Framing.ndjson(until: .doneMember, when: .unlessDeclined)
        XCTAssertFalse(read("{\"done\":false}\n{\"done\":false}\n", ollama).isComplete, "a stream cut before done")
        XCTAssertTrue(read("{\n  \"done\": true,\n  \"response\": \"hi\"\n}\n", ollama).isComplete, "a whole answer over lines")
        XCTAssertTrue(read("{\"Keys\":{}}", kubo).isComplete, "a whole answer need not end with a newline")
        XCTAssertFalse(read("{\"a\":1}\n{\"b\":", kubo).isComplete)
    }

    func testStreamContentTypes() {
        for type in ["text/event-stream", "text/event-stream; charset=utf-8", "application/x-ndjson", "Application/X-NDJSON "] {
            XCTAssertTrue(WireFormat.isStreamContentType(type), type)
        }
        for type in ["application/json", "application/json; charset=utf-8", "text/plain", ""] {
            XCTAssertFalse(WireFormat.isStreamContentType(type), type)
        }
    }

    func testTheFirstLineOfATextErrorIsItsMessage() {
        XCTAssertEqual(WireFormat.errorMessage(Array("404 page not found\n".utf8)), "404 page not found")
        XCTAssertEqual(WireFormat.errorMessage(Array("\n  invalid path \"x\": bad cid  \nUSAGE\n  ipfs files stat\n".utf8)),
                       "invalid path \"x\": bad cid")
        let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><h1>Bad</h1></body></html>\r\n"
        XCTAssertEqual(WireFormat.errorMessage(Array(page.utf8)), "502 Bad Gateway")
        XCTAssertEqual(WireFormat.errorMessage(Array("<p>\n<b>Forbidden</b> by the proxy</p>".utf8)), "Forbidden")
        XCTAssertEqual(WireFormat.errorMessage(Array(" \n\n".utf8)), "(empty body)")
        XCTAssertEqual(WireFormat.errorMessage(Array(String(repeating: "x", count: 500).utf8)).count, 300)
        XCTAssertEqual(WireFormat.errorMessage(Array("{\"Message\":\"not pinned\"}".utf8)), "not pinned")
    }

    func testKuboPlainTextErrorsMapByStatusAndMessage() {
        let notFound = IPFSFamily.error(status: 404, headers: [], body: Array("404 page not found\n".utf8))
        XCTAssertEqual(notFound?.kind, .notFound)
        XCTAssertEqual(notFound?.message, "upstream answered 404: 404 page not found")
        XCTAssertEqual(IPFSFamily.error(status: 400, headers: [], body: Array("bad request\nmore\n".utf8))?.kind, .invalidRequest)
        XCTAssertEqual(IPFSFamily.error(status: 500, headers: [], body: Array("path 'x' is not pinned\n".utf8))?.kind, .notFound)
    }
}
