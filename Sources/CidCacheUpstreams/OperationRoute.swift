import CidCacheCore

/// Where an operation lives under its namespace's base URL: a method and a
/// path pattern. The operation builds its upstream URL from it, and the HTTP
/// front matches requests against it, so a path is written once.
public struct OperationRoute: Sendable, Equatable {
    public let method: String
    public let pattern: RoutePattern
    /// Whether the HTTP body is the query request (a POST of the request itself,
    /// the path's members added), or the path's members, the query string's
    /// parameters and `fixed` make it (a GET).
    public let takesBody: Bool
    /// Members the route stands for that its path does not name (the Hub's `repo_type`).
    public let fixed: [String: String]
    /// The query string a body route always has (Gemini's streams: `alt=sse`);
    /// nil: none. A body route called with another query asks for more than the operation.
    public let query: String?

    /// A POST whose body is the request, the path's members moved out of it.
    public static func body(_ path: String, query: String? = nil) -> OperationRoute {
        OperationRoute(method: "POST", pattern: RoutePattern(path), takesBody: true, fixed: [:], query: query)
    }

    /// A GET whose path and query parameters are the request's members.
    public static func parameters(_ path: String, fixed: [String: String] = [:]) -> OperationRoute {
        OperationRoute(method: "GET", pattern: RoutePattern(path), takesBody: false, fixed: fixed, query: nil)
    }

    /// The request members the route stands for: its path's and the fixed ones.
    public var memberNames: Set<String> { Set(pattern.memberNames).union(fixed.keys) }

    /// Whether `members` are exactly the ones the route stands for, its fixed ones with their values.
    func accepts(_ members: [String: String]) -> Bool {
        Set(members.keys) == memberNames && fixed.allSatisfy { members[$0.key] == $0.value }
    }

    /// The path (and the query a body route always has) of the first of
    /// `routes` that stands for exactly `members`; EINVAL naming `op` when none does.
    static func path(among routes: [OperationRoute], _ members: [String: String], op: String) throws -> String {
        guard let route = routes.first(where: { $0.accepts(members) }) else {
            let names = members.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            throw CacheError(.invalidRequest, "\(op) has no route for the members \(names.isEmpty ? "(none)" : names)")
        }
        return try route.pattern.path(members) + (route.query.map { "?" + $0 } ?? "")
    }

    /// The members of all `routes`: the request's path fields.
    static func memberNames(of routes: [OperationRoute]) -> Set<String> {
        routes.reduce(into: []) { $0.formUnion($1.memberNames) }
    }
}

/// One route of the HTTP front into a family.
public struct FrontRoute: Sendable, Equatable {
    /// The operation a route is: one by name, or the one a path member names (OPEA's `/v1/{op}`).
    public enum Operation: Sendable, Equatable {
        case named(String)
        case parameter(String)
    }

    public let route: OperationRoute
    public let operation: Operation

    public init(_ route: OperationRoute, _ operation: Operation) {
        self.route = route
        self.operation = operation
    }
}

extension UpstreamOperation {
    /// A JSON POST to the route of `routes` that the path members `members`
    /// picks out of a request select (none by default); those members stay in
    /// the key and leave the upstream body. `headers`: the credential as a
    /// bearer token unless given.
    static func posting(_ name: String, to routes: [OperationRoute], ttl: TTLRule,
                        members: @escaping @Sendable (JSONObject) throws -> [String: String] = { _ in [:] },
                        headers: (@Sendable (Endpoint) -> [(name: String, value: String)])? = nil) -> UpstreamOperation {
        var operation = UpstreamOperation(name, ttl: ttl, transport: .http { call in
            let path = try OperationRoute.path(among: routes, try members(call.request), op: name)
            return WireFormat.postJSON(call.endpoint.url(path), call, headers: headers?(call.endpoint))
        })
        operation.routes = routes
        operation.pathOnlyFields = OperationRoute.memberNames(of: routes)
        return operation
    }
}
