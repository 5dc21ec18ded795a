public import CidCacheCore
import CidCacheShared
import CidCacheStore
import CidCacheUpstreams

extension CacheEngine {
    /// The figures of one namespace, or of all together (`stats/all.json`, `stats/<ns>.json`).
    public func statsDocument(namespace: String?) -> JSON {
        let counters = namespace.map(statistics.counters) ?? statistics.total()
        let stored = (try? store.entryCounts()) ?? [:]
        let entries = namespace.map { stored[$0] } ?? stored.values.reduce((entries: Int64(0), bytes: Int64(0))) {
            (entries: $0.entries + $1.entries, bytes: $0.bytes + $1.bytes)
        }
        let blobs = (try? store.blobStats()) ?? (count: 0, bytes: 0)
        var fields: [(key: String, value: JSON)] = []
        if let namespace { fields.append((key: "namespace", value: .string(namespace))) }
        let integer = { (value: Int64) in JSON.number(Double(value)) }
        fields += [
            (key: "hits", value: integer(counters.hits)),
            (key: "misses", value: integer(counters.misses)),
            (key: "coalesced", value: integer(counters.coalesced)),
            (key: "stale_served", value: integer(counters.staleServed)),
            (key: "bypassed", value: integer(counters.bypassed)),
            (key: "samples_fetched", value: integer(counters.samplesFetched)),
            (key: "http_refused", value: integer(counters.httpRefused)),
            (key: "upstream_errors", value: integer(counters.upstreamErrors)),
            (key: "evictions", value: integer(counters.evictions)),
            (key: "api_calls_saved", value: integer(counters.apiCallsSaved)),
            (key: "entries", value: integer(entries?.entries ?? 0)),
            (key: "bytes_stored", value: integer(entries?.bytes ?? 0)),
            (key: "bytes_served", value: integer(counters.bytesServed)),
            (key: "latency_saved_ms", value: integer(counters.latencySavedMs)),
            (key: "tokens_saved", value: integer(counters.tokensSaved)),
            (key: "hit_rate", value: .number(counters.hitRate)),
            (key: "cost_saved_usd", value: .number(counters.costSavedUSD)),
            (key: "cid_index", value: .object(JSONObject([
                (key: "total_cids", value: integer(blobs.count)),
                (key: "total_bytes", value: integer(blobs.bytes)),
            ]))),
        ]
        if namespace == nil, let tier = shared?.statistics {
            fields += Self.sharedCounters(tier).map { (key: "shared_" + $0.name, value: integer(Int64($0.value))) }
            fields.append((key: "shared_read_breaker", value: .string(tier.readBreaker)))
            fields.append((key: "shared_write_breaker", value: .string(tier.writeBreaker)))
        }
        let callers = callerStatistics.all()
        if namespace == nil, !callers.isEmpty {
            fields.append((key: "callers", value: .object(JSONObject(callers.sorted { $0.key < $1.key }.map { name, counters in
                (key: name, value: .object(JSONObject(Self.callerCounters(counters).map { (key: $0.name, value: $0.value) })))
            }))))
        }
        return .object(JSONObject(fields))
    }

    /// `stats/all.json` or `stats/<ns>.json` as bytes (JCS, one line).
    public func statsFile(namespace: String?) -> [UInt8] {
        CanonicalJSON.serialize(statsDocument(namespace: namespace)) + [0x0A]
    }

    /// `stats/metrics.prom`: the same figures in Prometheus text format.
    public func metricsFile() -> [UInt8] {
        // Hand-written on purpose (issue 11, measured against swift-prometheus 2.4.1):
        // its registry keeps live metrics, so every read would build one and drop it;
        // it emits families and label sets in hash order (another order each run) and
        // gauges as `84.0`; it took ~510 us to render 20 namespaces against ~85 us for
        // this, for two more packages (~7 s more to build, up to ~300 KB stripped).
        let counterNames = ["hits", "misses", "coalesced", "stale_served", "bypassed", "samples_fetched", "http_refused", "upstream_errors",
                            "evictions", "api_calls_saved", "bytes_served", "latency_saved_ms", "tokens_saved",
                            "cost_saved_usd"]
        let gaugeNames = ["entries", "bytes_stored", "hit_rate"]
        let documents = namespaceNames.map { ($0, statsDocument(namespace: $0).objectValue!) }
        var text = ""
        func render(_ name: String, kind: String, metric: String) {
            text += "# TYPE \(metric) \(kind)\n"
            for (namespace, document) in documents {
                text += "\(metric){namespace=\"\(namespace)\"} \(Self.promNumber(document[name]))\n"
            }
        }
        for name in counterNames { render(name, kind: "counter", metric: "cidcache_\(name)_total") }
        for name in gaugeNames { render(name, kind: "gauge", metric: "cidcache_\(name)") }
        let index = statsDocument(namespace: nil).objectValue?["cid_index"]?.objectValue
        text += "# TYPE cidcache_cid_index_total_cids gauge\ncidcache_cid_index_total_cids \(Self.promNumber(index?["total_cids"]))\n"
        text += "# TYPE cidcache_cid_index_total_bytes gauge\ncidcache_cid_index_total_bytes \(Self.promNumber(index?["total_bytes"]))\n"
        let callers = callerStatistics.all().sorted { $0.key < $1.key }
        for (index, name) in (callers.first.map { Self.callerCounters($0.value).map(\.name) } ?? []).enumerated() {
            text += "# TYPE cidcache_caller_\(name)_total counter\n"
            for (caller, counters) in callers {
                text += "cidcache_caller_\(name)_total{caller=\"\(caller)\"} \(Self.promNumber(Self.callerCounters(counters)[index].value))\n"
            }
        }
        if let tier = shared?.statistics {
            for (name, value) in Self.sharedCounters(tier) {
                text += "# TYPE cidcache_shared_\(name)_total counter\ncidcache_shared_\(name)_total \(value)\n"
            }
            text += "# TYPE cidcache_shared_breaker gauge\n"
            for (direction, current) in [("read", tier.readBreaker), ("write", tier.writeBreaker)] {
                for state in ["closed", "open", "half_open"] {
                    text += "cidcache_shared_breaker{direction=\"\(direction)\",state=\"\(state)\"} \(current == state ? 1 : 0)\n"
                }
            }
        }
        return Array(text.utf8)
    }

    /// A caller's counters by the name they are reported under (`callers` in all.json, `cidcache_caller_*_total`).
    private static func callerCounters(_ counters: Counters) -> [(name: String, value: JSON)] {
        let integer = { (value: Int64) in JSON.number(Double(value)) }
        return [("hits", integer(counters.hits)), ("misses", integer(counters.misses)), ("coalesced", integer(counters.coalesced)),
                ("stale_served", integer(counters.staleServed)), ("bypassed", integer(counters.bypassed)),
                ("latency_saved_ms", integer(counters.latencySavedMs)), ("tokens_saved", integer(counters.tokensSaved)),
                ("cost_saved_usd", .number(counters.costSavedUSD))]
    }

    /// The shared tier's counters by the name they are reported under (after `shared_`).
    private static func sharedCounters(_ tier: SharedTierStatistics) -> [(name: String, value: Int)] {
        [("hits", tier.hits), ("misses", tier.misses), ("uploads", tier.uploads), ("upload_errors", tier.uploadErrors),
         ("upload_dropped", tier.uploadDropped), ("rejected", tier.rejected), ("errors", tier.errors)]
    }

    private static func promNumber(_ value: JSON?) -> String {
        guard let d = value?.doubleValue else { return "0" }
        return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
