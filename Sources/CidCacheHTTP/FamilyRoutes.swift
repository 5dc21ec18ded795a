import CidCacheCore
import CidCacheUpstreams

/// The routes the HTTP front serves under `/<namespace>`, which stands for the
/// namespace's base URL: those of its operations (each one the upstream call
/// of an operation of the README's Namespaces section, as the operation
/// itself builds it). Every other route of the namespace is passed through uncached.
struct FamilyRoutes: Sendable, Equatable {
    /// A request matched to an operation.
    struct Match: Sendable {
        let operation: String
        let takesBody: Bool
        /// The query string a body route always has; nil: none.
        let query: String?
        /// The members the path and the route give.
        let members: [(name: String, value: String)]

        /// The query request: for a body route the body, with the path's
        /// members put first in its object (so the rest keeps the caller's own
        /// bytes, which is what the upstream gets once the engine moves them
        /// back into the path); else the members and the query string's.
        func request(body: [UInt8], query: String?) throws(CacheError) -> [UInt8] {
            takesBody ? try Self.folding(members, into: body) : try request(query: query)
        }

        /// `body`, a JSON object, with `members` (strings) inserted at its start;
        /// EINVAL when it is not an object. A member it already has is then a
        /// duplicate, which keying refuses.
        static func folding(_ members: [(name: String, value: String)], into body: [UInt8]) throws(CacheError) -> [UInt8] {
            guard !members.isEmpty else { return body }
            let isSpace: (UInt8) -> Bool = { [0x20, 0x09, 0x0A, 0x0D].contains($0) }
            guard let open = body.firstIndex(where: { !isSpace($0) }), body[open] == UInt8(ascii: "{") else {
                throw CacheError(.invalidRequest, "the request must be a JSON object")
            }
            let rest = body[(open + 1)...]
            let inserted = members.map { member in
                CanonicalJSON.serialize(.string(member.name)) + [UInt8(ascii: ":")] + CanonicalJSON.serialize(.string(member.value))
            }.joined(separator: [UInt8(ascii: ",")])
            let empty = rest.first(where: { !isSpace($0) }) == UInt8(ascii: "}")
            return Array(body[...open]) + inserted + (empty ? [] : [UInt8(ascii: ",")]) + rest
        }

        /// The query request of a parameter route: the path's members, then
        /// the query string's (as strings; a repeated name is an array of
        /// them); EINVAL when the query is not valid percent-encoding or names a path's member.
        func request(query: String?) throws(CacheError) -> [UInt8] {
            var object = JSONObject(members.map { (key: $0.name, value: JSON.string($0.value)) })
            for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = PercentEncoding.decode(parts[0], plusIsSpace: true),
                      let value = PercentEncoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
                    throw CacheError(.invalidRequest, "the query string is not valid percent-encoding")
                }
                guard !members.contains(where: { $0.name == name }) else {
                    throw CacheError(.invalidRequest, "the query parameter \"\(name)\" is already named by the path")
                }
                switch object[name] {
                case nil: object[name] = .string(value)
                case .array(let values)?: object[name] = .array(values + [.string(value)])
                case let single?: object[name] = .array([single, .string(value)])
                }
            }
            return CanonicalJSON.serialize(.object(object))
        }
    }

    let routes: [FrontRoute]

    /// The routes of a namespace (its operations' own, as its family lists them).
    init(_ routes: [FrontRoute]) {
        self.routes = routes
    }

    /// The operation a method and path (under the base URL, without its query) stand for; nil: pass through.
    func match(method: String, path: String) -> Match? {
        for front in routes where front.route.method == method {
            guard var members = front.route.pattern.match(path) else { continue }
            let operation: String
            switch front.operation {
            case .named(let name): operation = name
            case .parameter(let parameter):
                // The operation's name, not a member of its request.
                guard let index = members.firstIndex(where: { $0.name == parameter }) else { continue }
                operation = members.remove(at: index).value
            }
            let fixed = front.route.fixed.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
            return Match(operation: operation, takesBody: front.route.takesBody, query: front.route.query, members: members + fixed)
        }
        return nil
    }
}
