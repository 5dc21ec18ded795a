public import CidCacheCore
import CidCacheStore
import Foundation

/// Filling the index without an upstream, and reading it without the memory
/// of recent lookups: what the in-process benchmark (bench/Engine) needs.
extension CacheEngine {
    /// Indexes one answer under every query given, as fetched now with this
    /// TTL: the body is stored once, no key document is kept and nothing is
    /// counted. For tools that fill a store in bulk; the cache's own entries
    /// are written by its queries.
    public func seed(_ queries: [PreparedQuery], answer bytes: [UInt8], ttl: Int64, tokens: Int64,
                     fetchMs: Int64) throws(CacheError) {
        let contentCID = CID.forContent(bytes).string
        let now = Int64(Date().timeIntervalSince1970)
        do {
            try store.putBlob(cid: contentCID, bytes: bytes)
            for query in queries {
                _ = try store.upsertEntry(NewEntry(
                    requestCID: query.requestCID.string, upstream: query.namespace.upstream, namespace: query.namespace.name,
                    op: query.op, contentCID: contentCID, size: Int64(bytes.count), fetched: now, expires: now + ttl, ttl: ttl,
                    tokens: tokens, costUSD: 0, fetchMs: fetchMs))
            }
        } catch {
            throw CacheError(wrapping: error)
        }
    }

    /// The index's row for a prepared query, live or not, read from SQLite
    /// every time (the lookups `liveEntry` remembers are skipped): what one
    /// index lookup costs.
    public func indexedEntry(_ query: PreparedQuery) throws(CacheError) -> EntryRecord? {
        do {
            return try store.entry(requestCID: query.requestCID.string, upstream: query.namespace.upstream)
        } catch {
            throw CacheError(wrapping: error)
        }
    }
}
