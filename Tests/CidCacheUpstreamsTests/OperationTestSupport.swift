import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

/// `text` parsed as a JSON object (a request as the families see it), or a test failure.
func object(_ text: String) throws -> JSONObject {
    try XCTUnwrap(CanonicalJSON.parse(Array(text.utf8)).objectValue)
}

extension UpstreamFamily {
    /// The operation named `name`; when there is none, a test failure and a
    /// stand-in that refuses every request.
    subscript(op name: String) -> UpstreamOperation {
        if let operation = operation(named: name) { return operation }
        XCTFail("\(self.name) has no operation \(name)")
        var missing = UpstreamOperation(name, ttl: .fixed(-1), transport: .local { _ in throw CacheError(.notFound, name) })
        missing.validate = { _ in throw CacheError(.notFound, "no operation \(name)") }
        return missing
    }
}

extension UpstreamOperation {
    /// The first HTTP call for `request`, as the engine makes it: `body` (the
    /// caller's bytes) loses the dropped and path-only members.
    func httpRequest(_ request: JSONObject, body: [UInt8] = [], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        let upstreamBody = body.isEmpty ? [] : try CanonicalJSON.parseDocument(body).removingTopLevelMembers(droppedFields.union(pathOnlyFields))
        let call = OperationCall(request: request, body: upstreamBody, endpoint: endpoint)
        switch transport {
        case .http(let build): return try build(call)
        case .paged(let first, _): return try first(call)
        case .fetch, .local: throw CacheError(.io, "\(name) makes no single first call")
        }
    }

    /// Whether `body` is a complete answer (a stream with its terminal event).
    func isComplete(_ body: [UInt8]) -> Bool {
        AnswerReader.read(body, of: self, request: [:]).isComplete
    }

    /// The usage `body` reports, fed to a reader in small chunks as an upstream might send it.
    func usage(_ request: JSONObject, _ body: [UInt8]) -> TokenUsage? {
        var reader = answerReader()
        var rest = body[...]
        while !rest.isEmpty {
            reader.consume(rest.prefix(7))
            rest = rest.dropFirst(7)
        }
        let whole = reader.finish(body: body, request: request).usage
        XCTAssertEqual(whole, AnswerReader.read(body, of: self, request: request).usage, "chunked and whole reads differ")
        return whole
    }

    /// Runs the operation's own fetch (exec's commands, S3's listings).
    func fetch(_ request: JSONObject, endpoint: Endpoint, client: UpstreamClient) async throws -> [UInt8] {
        let call = OperationCall(request: request, body: [], endpoint: endpoint)
        switch transport {
        case .fetch(let fetch, _): return try await fetch(call, client)
        case .paged(let first, let read): return try await read(try first(call), call, client)
        case .local(let compute): return try compute(call)
        case .http: throw CacheError(.io, "\(name) is one HTTP call")
        }
    }
}

extension UpstreamOperation {
    /// What `mapError` makes of an error answer.
    func mappedError(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        mapError?(status, headers, body)
    }

    /// The request as keyed: `enrich`'s, else unchanged.
    func enriched(_ request: JSONObject) throws -> JSONObject {
        try enrich.map { try $0(request) } ?? request
    }
}
