import CidCacheCore
import CidCacheUpstreams
import CidCacheStore

extension CacheEngine {
    /// Runs one `ctl` line (docs/REFERENCE.md §9): `{"invalidate": {"namespace": NS,
    /// "op": OP?, "match": {...}?}}` drops every entry of the namespace (and
    /// operation) whose normalized request has those top-level values.
    /// - Returns: how many entries were dropped.
    @discardableResult
    public func control(_ line: [UInt8]) throws -> Int {
        guard let command = try CanonicalJSON.parse(line).objectValue else {
            throw CacheError(.invalidRequest, "a ctl command must be a JSON object")
        }
        guard command.members.count == 1, let invalidate = command["invalidate"] else {
            throw CacheError(.invalidRequest, "unknown ctl command; expected {\"invalidate\": {...}}")
        }
        guard let spec = invalidate.objectValue else {
            throw CacheError(.invalidRequest, "invalidate takes an object")
        }
        for key in spec.keys where !["namespace", "op", "match"].contains(key) {
            throw CacheError(.invalidRequest, "invalidate: unknown field \"\(key)\"")
        }
        guard let name = spec["namespace"]?.stringValue else {
            throw CacheError(.invalidRequest, "invalidate needs a \"namespace\"")
        }
        guard let namespace = namespaces[name] else {
            throw CacheError(.invalidRequest, "invalidate: unknown namespace \"\(name)\"")
        }
        var op: String?
        if let value = spec["op"] {
            guard let string = value.stringValue, namespace.family.operation(named: string) != nil else {
                throw CacheError(.invalidRequest, "invalidate: namespace \(name) has no operation \(value)")
            }
            op = string
        }
        var match: [(key: String, value: [UInt8])] = []
        if let value = spec["match"] {
            guard let object = value.objectValue else { throw CacheError(.invalidRequest, "invalidate: match must be an object") }
            match = object.members.map { (key: $0.key, value: CanonicalJSON.serialize($0.value)) }
        }

        let candidates = try store.entries(namespace: name, op: op, upstream: namespace.upstream)
        let doomed = candidates.filter { entry in
            guard !match.isEmpty else { return true }
            guard let document = try? CanonicalJSON.parse(store.readBlob(entry.requestCID), acceptCanonicalLargeIntegers: true).objectValue,
                  let request = document["request"]?.objectValue else { return false }
            return match.allSatisfy { field in
                request[field.key].map(CanonicalJSON.serialize) == field.value
            }
        }
        try store.removeEntries(ids: doomed.map(\.id))
        notifyRemoved(doomed)
        return doomed.count
    }
}
