import CidCacheCore
import CidCacheEngine
import CidCacheUpstreams
import HTTPTypes
import Hummingbird

/// Answers every request of the HTTP front: `/<namespace>/<path>` is
/// `<path>` under the namespace's base URL. A route that is an operation
/// goes through the engine as a query file does (same request CID, same
/// entry); every other route is passed through uncached.
struct FrontResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let engine: CacheEngine
    /// Who gets in (host, origin, content type, pass-through, loops).
    let door: RequestGuard
    let keys: CallerKeys

    init(engine: CacheEngine, keys: CallerKeys) {
        self.engine = engine
        self.keys = keys
        door = RequestGuard(allowedHosts: engine.config.httpAllowedHosts, allowedOrigins: engine.config.httpAllowedOrigins)
    }

    /// The process id `log` and `errors` lines get for HTTP requests: none is known.
    static let pid: Int32 = 0

    func respond(to request: Request, context: Context) async throws -> Response {
        let (name, rest) = Self.split(request.uri.path)
        let namespace = engine.namespaces[name]
        let routes = namespace.map { FamilyRoutes($0.routes) }
        let format = namespace?.errorFormat ?? .message
        var headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let caller = namespace.map { keys.identify(&headers, in: $0) } ?? CallerIdentity()
        // A body route with another query string than its own (`?api-version=`) asks for more than its operation: passed through.
        let match = routes?.match(method: request.method.rawValue, path: rest).flatMap {
            !$0.takesBody || request.uri.query == $0.query ? $0 : nil
        }
        let cors: [(name: String, value: String)]
        switch door.verdict(facts(request, headers, namespace, match)) {
        case .admit(let fields): cors = fields
        case .preflight(let fields): return Response(status: .noContent, headers: Self.fields(fields))
        case .refuse(let status, let error):
            engine.recordRefusal(namespace: name, error)
            return Self.failure(error, format: format, status: status)
        }
        if let refusal = keys.refusal(of: caller), namespace != nil {
            engine.recordRefusal(namespace: name, refusal)
            return Self.failure(refusal, format: format)
        }
        var response = await answer(request, name, namespace, rest: rest, headers: headers, caller: caller, match: match,
                                    format: format)
        if !cors.isEmpty {
            // The front's own, never an upstream's (a pass-through's answer may carry one).
            response.headers[.accessControlAllowOrigin] = nil
            response.headers.append(contentsOf: Self.fields(cors))
        }
        return response
    }

    /// What the door looks at in a request.
    private func facts(_ request: Request, _ headers: [(name: String, value: String)], _ namespace: Namespace?,
                       _ match: FamilyRoutes.Match?) -> RequestGuard.Facts {
        let method = request.method.rawValue
        let passing = namespace.flatMap { namespace -> RequestGuard.PassThrough? in
            guard match == nil else { return nil }
            return RequestGuard.PassThrough(
                namespace: namespace.name, policy: engine.config.namespaces[namespace.name]?.passThrough ?? .configuredForReads,
                usesConfiguredCredential: namespace.sendsConfiguredCredentialHeader && namespace.callerCredential(in: headers) == nil)
        }
        return RequestGuard.Facts(
            method: method, host: request.head.authority, origin: request.headers[.origin],
            secFetchSite: request.headers[Self.secFetchSiteHeader], contentType: request.headers[.contentType],
            requestedHeaders: request.headers[.accessControlRequestHeaders],
            cameBack: HopMark.isOwn(request.headers[values: Self.hopHeader]), takesJSONBody: match?.takesBody ?? false, passThrough: passing)
    }

    /// A request the door let in: an operation through the engine, anything else passed through.
    private func answer(_ request: Request, _ name: String, _ namespace: Namespace?, rest: String,
                        headers: [(name: String, value: String)], caller: CallerIdentity, match: FamilyRoutes.Match?,
                        format: ErrorFormat) async -> Response {
        guard let namespace else {
            let known = engine.namespaceNames.joined(separator: ", ")
            let error = CacheError(.notFound, "no namespace \"\(name)\" (the path starts with one of: \(known))")
            return Self.failure(error, format: .message)
        }
        let body: [UInt8]
        do {
            body = try await Self.collect(request.body, limit: engine.config.requestLimitBytes)
        } catch {
            return Self.failure(error, format: format)
        }
        if let match {
            var options = HeaderRules.options(headers, credential: caller.ownCredential)
            options.caller = caller.name
            options.hops = HopMark.marks(in: request.headers[values: Self.hopHeader])
            do {
                let queryRequest = try match.request(body: body, query: request.uri.query)
                return await query(namespace, op: match.operation, body: queryRequest, options: options)
            } catch {
                return Self.failure(error, format: format)
            }
        }
        let target = rest + (request.uri.query.map { "?" + $0 } ?? "")
        return await passThrough(namespace: name, PassThroughRequest(
            method: request.method.rawValue, target: target, headers: HeaderRules.forwarded(headers),
            body: body.isEmpty ? nil : body), format: format)
    }

    /// `/openai/chat/completions` as `openai` and `/chat/completions`.
    static func split(_ path: String) -> (namespace: String, rest: String) {
        let trimmed = path.drop { $0 == "/" }
        guard let slash = trimmed.firstIndex(of: "/") else { return (String(trimmed), "") }
        return (String(trimmed[..<slash]), String(trimmed[slash...]))
    }

    /// The whole request body; EFBIG past `limit`.
    static func collect(_ body: RequestBody, limit: Int) async throws(CacheError) -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            for try await buffer in body {
                guard bytes.count + buffer.readableBytes <= limit else {
                    throw CacheError(.tooLarge, "request larger than \(limit) bytes")
                }
                bytes += buffer.readableBytesView
            }
        } catch {
            throw CacheError(wrapping: error)
        }
        return bytes
    }

    // MARK: Operations

    private func query(_ namespace: Namespace, op: String, body: [UInt8], options: QueryOptions) async -> Response {
        let surface = Surface(streamContentType: namespace.streamContentType(of: op), errorFormat: namespace.errorFormat)
        switch engine.start(namespace: namespace.name, op: op, body: body, pid: Self.pid, options: options) {
        case .answered(let answer):
            return await respond(answer, surface)
        case .failed(let error):
            return Self.failure(error, format: surface.errorFormat)
        case .needsUpstream(let pending):
            do {
                return await respond(try await engine.finish(pending), surface)
            } catch {
                return Self.failure(CacheError(wrapping: error), format: surface.errorFormat, requestCID: pending.requestCID)
            }
        }
    }

    /// How an operation's answers and failures look.
    private struct Surface {
        /// The `Content-Type` of a streamed answer.
        let streamContentType: String?
        let errorFormat: ErrorFormat
    }

    /// An answer as the upstream sent it: a stream still arriving is passed on
    /// as it comes (its CID, known at its end, in a trailer); anything else is
    /// sent with its length and CID, a fresh answer once it is whole.
    private func respond(_ answer: Answer, _ surface: Surface) async -> Response {
        var fields = HTTPFields()
        fields[.contentType] = answer.streamed ? surface.streamContentType ?? "text/event-stream" : "application/json"
        fields[Self.outcomeHeader] = Self.outcomeName(answer.outcome)
        fields[Self.requestCIDHeader] = answer.requestCID.string
        if let sample = answer.sample { fields[Self.sampleHeader] = "\(sample)/\(answer.samples)" }
        let source = answer.body
        if let contentCID = answer.contentCID, let size = answer.entry?.size {
            // From the store (a hit, a stale stand-in, a flight that had just landed).
            fields[Self.contentCIDHeader] = contentCID.string
            if let whole = Self.readAtOnce(source, size: Int(size)) {
                return Response(status: .ok, headers: fields, body: HTTPBody(byteBuffer: ByteBuffer(bytes: whole)))
            }
            return Response(status: .ok, headers: fields, body: Self.streaming(source, length: Int(size)))
        }
        if answer.streamed {
            return Response(status: .ok, headers: fields, body: Self.streaming(source) {
                source.contentCID.map { [Self.contentCIDHeader: $0.string] }
            })
        }
        do {
            let bytes = try await source.collect()
            fields[Self.contentCIDHeader] = (source.contentCID ?? CID.forContent(bytes)).string
            return Response(status: .ok, headers: fields, body: HTTPBody(byteBuffer: ByteBuffer(bytes: bytes)))
        } catch {
            return Self.failure(CacheError(wrapping: error), format: surface.errorFormat, requestCID: answer.requestCID)
        }
    }

    // MARK: Pass-through

    private func passThrough(namespace: String, _ call: PassThroughRequest, format: ErrorFormat) async -> Response {
        let answer: PassThroughAnswer
        do {
            answer = try await engine.passThrough(namespace: namespace, call)
        } catch {
            return Self.failure(CacheError(wrapping: error), format: format)
        }
        var fields = Self.fields(HeaderRules.forwarded(answer.headers))
        fields[Self.outcomeHeader] = "bypass"
        let length = answer.headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) }
        // A chunked answer's trailers go on after it (a Kubo stream's failure is in X-Stream-Error).
        let trailers = answer.trailers
        return Response(status: HTTPResponse.Status(code: answer.status), headers: fields,
                        body: Self.streaming(answer.body, length: length) {
                            length == nil ? Self.fields(HeaderRules.forwarded(trailers())).nilIfEmpty : nil
                        })
    }

    /// A stored answer of at most 1 MiB whole, when its bytes are there at once
    /// (memory, the index or a file): one write instead of a streamed body; nil otherwise.
    static func readAtOnce(_ source: CidCacheEngine.ResponseBody, size: Int) -> ArraySlice<UInt8>? {
        guard size <= 1 << 20, case .bytes(let bytes)? = source.availableNow(at: 0, limit: size), bytes.count == size else { return nil }
        return bytes
    }

    /// An engine body as a response body, passed on as it arrives; `trailers`
    /// go after its last byte. A body cut short throws, which closes the
    /// connection before the response's end.
    static func streaming(_ source: CidCacheEngine.ResponseBody, length: Int? = nil,
                          trailers: @escaping @Sendable () -> HTTPFields? = { nil }) -> HTTPBody {
        HTTPBody(contentLength: length) { writer in
            for try await piece in source { try await writer.write(ByteBuffer(bytes: piece)) }
            try await writer.finish(trailers())
        }
    }

    // MARK: Failures

    /// A failure: the upstream's own error answer when it sent one, else the
    /// status its errno stands for with an error body in the family's format.
    /// `status`, when given, is the front's own (a refusal at its door).
    static func failure(_ error: CacheError, format: ErrorFormat, requestCID: CID? = nil, status: Int? = nil) -> Response {
        let status = status ?? FailureStatus.of(error)
        var fields = HTTPFields()
        fields[outcomeHeader] = "error"
        if let requestCID { fields[requestCIDHeader] = requestCID.string }
        let body: [UInt8]
        if let answer = error.upstreamAnswer {
            body = answer.body
            fields.append(contentsOf: Self.fields(HeaderRules.forwarded(answer.headers)))
            if fields[.contentType] == nil { fields[.contentType] = "application/json" }
        } else {
            body = format.body(for: error, status: status)
            fields[.contentType] = "application/json"
        }
        return Response(status: HTTPResponse.Status(code: status), headers: fields,
                        body: HTTPBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: Headers

    /// Header pairs as fields; a name HTTP does not allow is left out.
    static func fields(_ headers: [(name: String, value: String)]) -> HTTPFields {
        HTTPFields(headers.compactMap { header in HTTPField.Name(header.name).map { HTTPField(name: $0, value: header.value) } })
    }

    static let outcomeHeader = HTTPField.Name("x-cidcache")!
    static let requestCIDHeader = HTTPField.Name("x-cidcache-request-cid")!
    static let contentCIDHeader = HTTPField.Name("x-cidcache-cid")!
    /// `i/N`: the answer is sample i of the N its request keeps (docs/REFERENCE.md §8.1).
    static let sampleHeader = HTTPField.Name("x-cidcache-sample")!
    static let secFetchSiteHeader = HTTPField.Name("sec-fetch-site")!
    static let hopHeader = HTTPField.Name(HopMark.header)!

    /// `x-cidcache`'s value for an outcome.
    static func outcomeName(_ outcome: Outcome) -> String {
        outcome == .bypassed ? "bypass" : outcome.rawValue
    }
}

extension HTTPFields {
    /// Nil for no fields, so a body ends without a trailer section.
    var nilIfEmpty: HTTPFields? { isEmpty ? nil : self }
}
