import ArgumentParser
import CidCacheCore
import CidCacheEngine
import Foundation

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Print the statistics as a table.")

    @OptionGroup var store: StoreOptions
    @Flag(help: "Print stats/all.json as it is instead of a table.") var json = false

    func run() async throws {
        let engine = try store.openEngineOrExit()
        // Through the mount when one serves the store: its figures are the live ones.
        let mountpoint = MountRegistry(dataDirectory: store.resolvedDataDirectory).activeMountpoint()
        func document(_ namespace: String?) -> JSONObject? {
            if let mountpoint {
                let path = "\(mountpoint)/stats/\(namespace.map { $0 + ".json" } ?? "all.json")"
                return (try? readWholeFile(path)).flatMap { try? CanonicalJSON.parse($0) }?.objectValue
            }
            return engine.statsDocument(namespace: namespace).objectValue
        }
        if json {
            print(String(decoding: CanonicalJSON.serialize(.object(document(nil) ?? JSONObject([]))), as: UTF8.self))
            return
        }
        let columns = ["hits", "misses", "coalesced", "stale_served", "bypassed", "upstream_errors", "hit_rate",
                       "entries", "bytes_stored", "tokens_saved", "cost_saved_usd"]
        var rows = [["namespace"] + columns]
        for namespace in engine.namespaceNames + [nil] {
            guard let stats = document(namespace) else { continue }
            rows.append([namespace ?? "all"] + columns.map { Self.format(stats[$0]) })
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { column, cell in
                column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  "))
        }
    }

    private static func format(_ value: JSON?) -> String {
        guard let number = value?.doubleValue else { return "-" }
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return String(format: "%.4f", number)
    }
}
