import CidCacheCore
import CidCacheEngine
@testable import CidCacheHTTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import XCTest

/// A signal tasks wait for: once open, every waiter (and every later one) goes on.
final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    var isOpen: Bool { state.withLock { $0.isOpen } }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// An upstream served by hummingbird in this process, OpenAI's API under
/// `/v1` and one repo of the Hugging Face Hub's under `/api`. It records each
/// call; a request for the model `held` opens `arrived`, then waits for
/// `held` (a stream after its first event) before it answers.
final class FakeUpstream: Sendable {
    static let answer = #"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
    static let events = [
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    ]
    static let models = #"{"object":"list","data":[{"id":"gpt-test","object":"model"}]}"#
    static let modelInfo = #"{"id":"org/tiny","sha":"0123abcd","siblings":[]}"#
    static let noteHeader = HTTPField.Name("x-upstream-note")!
    static let streamErrorHeader = HTTPField.Name("x-stream-error")!

    let arrived = Gate()
    let held = Gate()
    private let log = Mutex<[(call: String, authorization: String?)]>([])

    /// `METHOD /path` of each call, in order.
    var calls: [String] { log.withLock { $0.map { $0.call } } }
    /// The `Authorization` each call came with.
    var authorizations: [String?] { log.withLock { $0.map { $0.authorization } } }

    private func record(_ request: Request) {
        let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        log.withLock { $0.append((call: "\(request.method.rawValue) \(target)", authorization: request.headers[.authorization])) }
    }

    var application: Application<RouterResponder<BasicRequestContext>> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/chat/completions") { request, _ -> Response in
            self.record(request)
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            let isHeld = text.contains(#""model":"held""#)
            guard text.contains(#""stream":true"#) else {
                if isHeld { self.arrived.open(); await self.held.wait() }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: Self.answer)))
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: Self.events[0]))
                if isHeld { self.arrived.open(); await self.held.wait() }
                for event in Self.events.dropFirst() { try await writer.write(ByteBuffer(string: event)) }
                try await writer.finish(nil)
            })
        }
        router.get("/v1/models") { request, _ -> Response in
            self.record(request)
            return Response(status: .ok, headers: [.contentType: "application/json", Self.noteHeader: "fake"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: Self.models)))
        }
        router.get("/api/models/org/tiny") { request, _ -> Response in
            self.record(request)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: Self.modelInfo)))
        }
        // A chunked answer that reports its failure in a trailer (as Kubo does).
        router.get("/v1/files/f1/content") { request, _ -> Response in
            self.record(request)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "part one,"))
                try await writer.write(ByteBuffer(string: "part two"))
                try await writer.finish([Self.streamErrorHeader: "cut short upstream"])
            })
        }
        return Application(router: router, logger: quiet("fake-openai"))
    }
}

/// A logger for warnings and worse only: a test's output is its results.
func quiet(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// The fake's configured key: plainly not a real one.
let upstreamKey = "sk-test-not-a-real-key-front-0001"
let jsonContent: HTTPFields = [.contentType: "application/json"]

/// Runs `test` against an HTTP front (as `cidcache serve` builds it) over an
/// engine whose `openai` and `hf` namespaces are `upstream`, all in this process:
/// `.router` hands requests straight to the front's responder, `.live` serves
/// it on a loopback port.
func withFront(_ setup: TestingSetup, upstream: FakeUpstream, config: CacheConfig = CacheConfig(),
               _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    try await upstream.application.test(.live) { upstreamClient in
        let port = try XCTUnwrap(upstreamClient.port)
        let directory = NSTemporaryDirectory() + "cidcache-front-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = try CacheEngine(dataDirectory: directory, config: config, environment: [
            "CIDCACHE_OPENAI_URL": "http://localhost:\(port)/v1", "CIDCACHE_OPENAI_KEY": upstreamKey,
            "CIDCACHE_HF_URL": "http://localhost:\(port)",
        ], truncateLogs: true)
        do {
            let front = try HTTPFront(engine: engine, address: try ListenAddress(parsing: "127.0.0.1:9"),
                                      keys: try CallerKeys(path: nil, required: false), logger: quiet("front"))
            try await front.application.test(setup, test)
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}
