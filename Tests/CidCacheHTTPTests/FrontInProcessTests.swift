import AsyncHTTPClient
import CidCacheCore
@testable import CidCacheHTTP
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import XCTest

private let chat = #"{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}"#
private let heldChat = #"{"model":"held","messages":[{"role":"user","content":"hi"}]}"#
private let streamedChat = #"{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"stream":true}"#
private let heldStream = #"{"model":"held","messages":[{"role":"user","content":"hi"}],"stream":true}"#

/// A POST of `body` (JSON) to the front.
private func ask(_ client: any TestClientProtocol, _ body: String, uri: String = "/openai/chat/completions") async throws -> TestResponse {
    try await client.execute(uri: uri, method: .post, headers: jsonContent, body: ByteBuffer(string: body))
}

/// The HTTP front driven in-process (requests in, responses out), its
/// upstream a hummingbird app in the same process: routing, streaming,
/// trailers, a caller that goes away, and pass-through. The official SDKs
/// through sockets are Tests/Mount/test_http_*.py.
final class FrontInProcessTests: XCTestCase {
    func testAnOperationIsAMissThenAHitWithTheSameBytes() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            let miss = try await ask(client, chat)
            XCTAssertEqual(miss.status, .ok)
            XCTAssertEqual(miss.headers[FrontResponder.outcomeHeader], "miss")
            XCTAssertEqual(miss.headers[.contentType], "application/json")
            XCTAssertEqual(String(buffer: miss.body), FakeUpstream.answer)
            XCTAssertEqual(miss.headers[FrontResponder.contentCIDHeader], CID.forContent(Array(FakeUpstream.answer.utf8)).string)
            XCTAssertNotNil(miss.headers[FrontResponder.requestCIDHeader])

            let hit = try await ask(client, chat)
            XCTAssertEqual(hit.headers[FrontResponder.outcomeHeader], "hit")
            XCTAssertEqual(hit.body, miss.body)
            XCTAssertEqual(hit.headers[FrontResponder.requestCIDHeader], miss.headers[FrontResponder.requestCIDHeader])
            XCTAssertEqual(hit.headers[FrontResponder.contentCIDHeader], miss.headers[FrontResponder.contentCIDHeader])
            XCTAssertEqual(upstream.calls, ["POST /v1/chat/completions"])
            XCTAssertEqual(upstream.authorizations, ["Bearer " + upstreamKey])
        }
    }

    /// A GET route's path and query string are the request: the Hub's model_info, cached like a query file.
    func testAPathAndItsQueryAreTheRequestOfAGetRoute() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            let miss: TestResponse = try await client.execute(uri: "/hf/api/models/org/tiny?expand=sha", method: .get)
            XCTAssertEqual(miss.status, .ok)
            XCTAssertEqual(miss.headers[FrontResponder.outcomeHeader], "miss")
            XCTAssertEqual(String(buffer: miss.body), FakeUpstream.modelInfo)
            let hit: TestResponse = try await client.execute(uri: "/hf/api/models/org/tiny?expand=sha", method: .get)
            XCTAssertEqual(hit.headers[FrontResponder.outcomeHeader], "hit")
            XCTAssertEqual(hit.headers[FrontResponder.requestCIDHeader], miss.headers[FrontResponder.requestCIDHeader])
            let plain: TestResponse = try await client.execute(uri: "/hf/api/models/org/tiny", method: .get)
            XCTAssertEqual(plain.headers[FrontResponder.outcomeHeader], "miss", "the query string is part of the request")
            XCTAssertNotEqual(plain.headers[FrontResponder.requestCIDHeader], miss.headers[FrontResponder.requestCIDHeader])
            XCTAssertEqual(upstream.calls, ["GET /api/models/org/tiny?expand=sha", "GET /api/models/org/tiny"])
        }
    }

    func testRoutesThatAreNoNamespaceOrNoRequestFailInTheFamilysFormat() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            let nowhere = try await ask(client, chat, uri: "/nowhere/chat/completions")
            XCTAssertEqual(nowhere.status, .notFound)
            XCTAssertEqual(nowhere.headers[FrontResponder.outcomeHeader], "error")
            XCTAssertTrue(String(buffer: nowhere.body).contains("no namespace"), String(buffer: nowhere.body))

            // An operation's route whose body is no JSON object: EINVAL as OpenAI words an error, no upstream call.
            let refused = try await ask(client, "[1]")
            XCTAssertEqual(refused.status, .badRequest)
            let error = try XCTUnwrap(CanonicalJSON.parse(Array(refused.body.readableBytesView)).objectValue?["error"]?.objectValue)
            XCTAssertNotNil(error["message"]?.stringValue)
            XCTAssertEqual(upstream.calls, [])
        }
    }

    func testAStreamEndsWithItsContentCIDInATrailerThenIsAHit() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            let stream = FakeUpstream.events.joined()
            let miss = try await ask(client, streamedChat)
            XCTAssertEqual(miss.status, .ok)
            XCTAssertEqual(miss.headers[FrontResponder.outcomeHeader], "miss")
            XCTAssertTrue(miss.headers[.contentType]?.hasPrefix("text/event-stream") ?? false, "\(miss.headers)")
            XCTAssertEqual(String(buffer: miss.body), stream)
            XCTAssertNil(miss.headers[FrontResponder.contentCIDHeader], "known only at the stream's end")
            XCTAssertEqual(miss.trailerHeaders?[FrontResponder.contentCIDHeader], CID.forContent(Array(stream.utf8)).string)

            let hit = try await ask(client, streamedChat)
            XCTAssertEqual(hit.headers[FrontResponder.outcomeHeader], "hit")
            XCTAssertEqual(String(buffer: hit.body), stream)
            XCTAssertEqual(hit.headers[FrontResponder.contentCIDHeader], CID.forContent(Array(stream.utf8)).string)
            XCTAssertEqual(upstream.calls.count, 1)
        }
    }

    /// The first event reaches the caller while the upstream still holds the rest.
    func testAStreamIsPassedOnAsItArrives() async throws {
        let upstream = FakeUpstream()
        try await withFront(.live, upstream: upstream) { client in
            let port = try XCTUnwrap(client.port)
            var request = HTTPClientRequest(url: "http://localhost:\(port)/openai/chat/completions")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: heldStream))
            // The timeout only ends a front that would keep the first event until the upstream lets go.
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            XCTAssertEqual(response.status, .ok)
            var pieces = response.body.makeAsyncIterator()
            var received = ""
            while !received.hasSuffix("\n\n"), let piece = try await pieces.next() {
                received += String(buffer: piece)
            }
            XCTAssertEqual(received, FakeUpstream.events[0])
            XCTAssertFalse(upstream.held.isOpen)
            upstream.held.open()
            while let piece = try await pieces.next() { received += String(buffer: piece) }
            XCTAssertEqual(received, FakeUpstream.events.joined())
        }
    }

    /// A caller that goes away gets no answer, but the upstream call goes on and
    /// its answer is stored (as when a query file is closed mid-call).
    func testACallerThatGoesAwayLeavesTheUpstreamCallToFinish() async throws {
        let upstream = FakeUpstream()
        // Lets the upstream go should the front wait for it after all, so the test fails instead of hanging.
        let release = Task {
            try await Task.sleep(for: .seconds(60))
            upstream.held.open()
        }
        defer { release.cancel() }
        try await withFront(.router, upstream: upstream) { client in
            let asked = Task { try await ask(client, heldChat) }
            await upstream.arrived.wait()
            asked.cancel()
            if case .success(let gone) = await asked.result {
                XCTAssertEqual(gone.headers[FrontResponder.outcomeHeader], "error")
            }
            XCTAssertFalse(upstream.held.isOpen, "the cancelled request waited for the upstream")
            upstream.held.open()

            let again = try await ask(client, heldChat)
            XCTAssertEqual(again.status, .ok)
            XCTAssertEqual(String(buffer: again.body), FakeUpstream.answer)
            XCTAssertTrue(["hit", "coalesced"].contains(again.headers[FrontResponder.outcomeHeader]), "\(again.headers)")
            XCTAssertEqual(upstream.calls.count, 1)
        }
    }

    func testOtherRoutesPassThroughUncachedWithTheUpstreamsHeaders() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            for _ in 1...2 {
                let listed: TestResponse = try await client.execute(uri: "/openai/models", method: .get)
                XCTAssertEqual(listed.status, .ok)
                XCTAssertEqual(listed.headers[FrontResponder.outcomeHeader], "bypass")
                XCTAssertEqual(listed.headers[FakeUpstream.noteHeader], "fake")
                XCTAssertEqual(String(buffer: listed.body), FakeUpstream.models)
            }
            XCTAssertEqual(upstream.calls, ["GET /v1/models", "GET /v1/models"])
            XCTAssertEqual(upstream.authorizations, ["Bearer " + upstreamKey, "Bearer " + upstreamKey])
        }
    }

    func testAPassedThroughChunkedAnswerKeepsItsTrailers() async throws {
        let upstream = FakeUpstream()
        try await withFront(.router, upstream: upstream) { client in
            let content: TestResponse = try await client.execute(uri: "/openai/files/f1/content", method: .get)
            XCTAssertEqual(content.status, .ok)
            XCTAssertEqual(String(buffer: content.body), "part one,part two")
            XCTAssertEqual(content.trailerHeaders?[FakeUpstream.streamErrorHeader], "cut short upstream")
        }
    }
}
