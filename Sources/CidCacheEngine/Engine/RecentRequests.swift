import CidCacheUpstreams

/// Requests recently keyed, by their exact bytes, so asking again (what a
/// cache is for) skips parsing, normalizing and hashing. Keying depends only
/// on the bytes and the config, which never changes while the engine runs,
/// except where a family enriches a request from outside it (`exec` reads its
/// input files): those are keyed anew every time.
final class RecentRequests: Sendable {
    struct Key: Hashable, Sendable {
        let namespace: String
        let op: String
        let body: [UInt8]

        func hash(into hasher: inout Hasher) {
            hasher.combine(namespace)
            hasher.combine(op)
            body.withUnsafeBytes { hasher.combine(bytes: $0) }  // not byte by byte, as [UInt8] hashes
        }
    }

    /// Requests larger than this are keyed every time: memory stays bounded.
    static let largestBody = 8 * 1024
    private let queries = ShardedMap<Key, PreparedQuery>(capacity: 512)

    /// The keyed request for these bytes: remembered, or from `prepare`.
    func prepared(namespace: String, op: String, body: [UInt8],
                  _ prepare: () throws -> PreparedQuery) rethrows -> PreparedQuery {
        guard body.count <= Self.largestBody else { return try prepare() }
        let key = Key(namespace: namespace, op: op, body: body)
        if let query = queries[key] { return query }
        let query = try prepare()
        if query.operation.enrich == nil { queries.update(key) { $0 = query } }
        return query
    }
}
