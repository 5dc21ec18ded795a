import CidCacheCore

/// Pieces the metadata families (HF Hub, GitHub, CodeQL, IPFS) share: their
/// requests are JSON objects of an operation's parameters, some of which fill
/// the URL path and the rest of which become query parameters.
enum RESTCall {
    // MARK: Operations

    /// Where a request goes: the URL path its path parameters make, and query
    /// parameters before and after the ones its other members make.
    struct Route {
        var path: String
        var leadingQuery: [(name: String, value: String)] = []
        var trailingQuery: [(name: String, value: String)] = []
    }

    /// An operation whose request names the path parameters `pathFields`
    /// (turned into a route, and checked, by `route`) and whose every other
    /// member is a query parameter; no body. `transport` gets the request
    /// builder (by default, one call whose body is the answer).
    static func operation(_ name: String, ttl: Int, pathFields: Set<String>, method: String = "GET",
                          headers: @escaping @Sendable (Endpoint) -> [(name: String, value: String)],
                          route: @escaping @Sendable (JSONObject) throws -> Route,
                          transport: (@escaping @Sendable (OperationCall) throws -> UpstreamHTTPRequest) -> Transport = { .http($0) })
        -> UpstreamOperation {
        let build: @Sendable (OperationCall) throws -> UpstreamHTTPRequest = { call in
            let route = try route(call.request)
            let query = route.leadingQuery + (try queryParameters(call.request, except: pathFields)) + route.trailingQuery
            return UpstreamHTTPRequest(method: method, url: url(call.endpoint.url(route.path), query),
                                       headers: headers(call.endpoint), body: nil)
        }
        var operation = UpstreamOperation(name, ttl: .fixed(ttl), transport: transport(build))
        operation.validate = { request in
            _ = try route(request)
            _ = try queryParameters(request, except: pathFields)  // fails before keying, not at the call
        }
        return operation
    }

    /// An operation at one of `routes`: `members` picks the path members out of
    /// a request (and checks them), the route that stands for exactly those
    /// builds the path, and every other member is a query parameter, before `trailingQuery`.
    static func operation(_ name: String, ttl: Int, routes: [OperationRoute],
                          headers: @escaping @Sendable (Endpoint) -> [(name: String, value: String)],
                          members: @escaping @Sendable (JSONObject) throws -> [String: String],
                          trailingQuery: @escaping @Sendable (JSONObject) -> [(name: String, value: String)] = { _ in [] },
                          transport: (@escaping @Sendable (OperationCall) throws -> UpstreamHTTPRequest) -> Transport = { .http($0) })
        -> UpstreamOperation {
        var operation = Self.operation(name, ttl: ttl, pathFields: OperationRoute.memberNames(of: routes),
                                  method: routes.first?.method ?? "GET", headers: headers, route: { request in
            Route(path: try OperationRoute.path(among: routes, try members(request), op: name), trailingQuery: trailingQuery(request))
        }, transport: transport)
        operation.routes = routes
        return operation
    }

    // MARK: Parameters

    /// A `namespace/name` (or bare `name`) repository id as URL path segments,
    /// each percent-encoded; the one slash stays a slash.
    static func repositoryPath(_ id: String, field: String) throws -> String {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else {
            throw CacheError(.invalidRequest, "\"\(field)\" must be \"name\" or \"namespace/name\"")
        }
        return try parts.map { try WireFormat.pathSegment(String($0), field: field) }.joined(separator: "/")
    }

    /// The text a scalar parameter is sent as: strings as they are, booleans
    /// as `true`/`false`, numbers as JSON writes them; nil for null.
    static func queryText(_ value: JSON, field: String) throws -> [String] {
        switch value {
        case .null: return []
        case .string(let text): return [text]
        case .bool(let flag): return [flag ? "true" : "false"]
        case .number: return [String(decoding: CanonicalJSON.serialize(value), as: UTF8.self)]
        case .array(let elements):
            return try elements.flatMap { element -> [String] in
                if case .array = element { throw arrayError(field) }
                if case .object = element { throw arrayError(field) }
                return try queryText(element, field: field)
            }
        case .object:
            throw CacheError(.invalidRequest, "\"\(field)\" must be a string, number, boolean or an array of them")
        }
    }

    private static func arrayError(_ field: String) -> CacheError {
        CacheError(.invalidRequest, "\"\(field)\" must be an array of strings, numbers or booleans")
    }

    /// Every member of the request but `consumed` as query parameters, in
    /// request order; an array repeats its parameter (`filter=a&filter=b`).
    static func queryParameters(_ request: JSONObject, except consumed: Set<String>) throws -> [(name: String, value: String)] {
        var parameters: [(name: String, value: String)] = []
        for member in request.members where !consumed.contains(member.key) {
            for text in try queryText(member.value, field: member.key) {
                parameters.append((name: member.key, value: text))
            }
        }
        return parameters
    }

    // MARK: URLs

    /// `name=value&...`, both percent-encoded (RFC 3986 unreserved kept).
    static func queryString(_ parameters: [(name: String, value: String)]) -> String {
        parameters.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
    }

    /// `url` with `parameters` appended as its query.
    static func url(_ url: String, _ parameters: [(name: String, value: String)]) -> String {
        parameters.isEmpty ? url : url + (url.contains("?") ? "&" : "?") + queryString(parameters)
    }

    // MARK: Answers

    /// The byte ranges of the elements of a top-level JSON array, or nil when
    /// `bytes` is not one. Lenient (no validation of the elements): only
    /// strings, escapes and nesting are tracked, so each element keeps the
    /// exact bytes the upstream sent.
    static func arrayElements(_ bytes: [UInt8]) -> [Range<Int>]? {
        var index = 0
        func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var elements: [Range<Int>] = []
        var depth = 0
        var inString = false
        var start: Int?
        var lastNonSpace = index
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") { index += 2; lastNonSpace = index; continue }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                lastNonSpace = index
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                index += 1
                continue
            case UInt8(ascii: "\""):
                inString = true
                if start == nil { start = index }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if start == nil { start = index }
            case UInt8(ascii: "]") where depth == 0, UInt8(ascii: ","):
                if byte == UInt8(ascii: ",") && depth > 0 { break }
                if let first = start {
                    elements.append(first..<lastNonSpace)
                } else if byte == UInt8(ascii: ",") || !elements.isEmpty {
                    return nil  // an empty element: `[,` or `[1,]`
                }
                start = nil
                if byte == UInt8(ascii: "]") {
                    index += 1
                    skipSpace()
                    return index == bytes.count ? elements : nil
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth < 0 { return nil }
            default:
                if start == nil { start = index }
            }
            index += 1
            lastNonSpace = index
        }
        return nil
    }

    /// A JSON array of the given elements, each with its exact bytes.
    static func joinedArray(_ parts: [ArraySlice<UInt8>]) -> [UInt8] {
        var output: [UInt8] = [UInt8(ascii: "[")]
        for (position, part) in parts.enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            output += part
        }
        output.append(UInt8(ascii: "]"))
        return output
    }

    /// The failure of an answer that is not 2xx: the family's own mapping,
    /// else the status's (docs/REFERENCE.md §5.1).
    /// The error answer itself rides along (`CacheError.upstreamAnswer`).
    static func failure(status: Int, headers: [(name: String, value: String)], body: [UInt8],
                        mapping: ErrorMapper?) -> CacheError {
        var error = mapping?(status, headers, body)
            ?? CacheError.forStatus(status, "upstream answered \(status): \(WireFormat.errorMessage(body))")
        error.upstreamAnswer = UpstreamErrorAnswer(body: body, headers: headers)
        return error
    }

    /// One GET (or POST) whose whole 2xx body is returned; any other status fails as `failure` says.
    static func fetchPage(_ request: UpstreamHTTPRequest, client: UpstreamClient,
                          mapping: ErrorMapper? = nil) async throws -> (body: [UInt8], next: String?) {
        let (response, body) = try await client.fetchWhole(request) { status, headers, body in
            failure(status: status, headers: headers, body: body, mapping: mapping)
        }
        return (body, LinkHeader.next(response.header("link")))
    }
}
