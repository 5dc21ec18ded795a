import ArgumentParser
import CidCacheCore
import CidCacheEngine
import CidCacheHTTP
import Foundation

/// `cidcache key`: the HTTP front's caller keys (README, "Caller keys").
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the HTTP front's caller keys.",
        discussion: """
            A caller key stands in for the configured credential: an SDK sends it as its API key, and the \
            front calls the upstream with the namespace's configured key, counting the caller's hits and \
            misses under its name. The keys file (http.keys_file, else caller-keys.json in the data \
            directory, mode 0600) holds each key's SHA-256, never the key; a running daemon reads it \
            again within a second of a change.
            """,
        subcommands: [New.self, List.self, Remove.self])

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a caller and print its new key (shown only this once).")
        @Argument(help: "The caller's name (letters, digits, '.', '_', '-'; at most 64).") var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let key = try store.editCallerKeys { file throws(CacheError) in try file.add(name: name, now: Int64(Date().timeIntervalSince1970)) }
            print(key)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each caller's name and when its key was made.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let path = try store.callerKeysPath()
            do throws(CacheError) {
                let formatter = ISO8601DateFormatter()
                for entry in try CallerKeyFile.load(path).entries {
                    print("\(entry.name)\t\(formatter.string(from: Date(timeIntervalSince1970: TimeInterval(entry.created))))")
                }
            } catch {
                throw fail(error)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a caller: its key stops working within a second.")
        @Argument(help: "The caller's name.") var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try store.editCallerKeys { file throws(CacheError) in
                guard file.remove(name: name) else { throw CacheError(.notFound, "no caller key named \"\(name)\"") }
            }
        }
    }
}

extension StoreOptions {
    /// The caller keys file: the config's `http.keys_file`, else `caller-keys.json` in the data directory.
    func callerKeysPath() throws -> String {
        do {
            return try loadConfig().httpKeysFile.map(absolute) ?? resolvedDataDirectory + "/caller-keys.json"
        } catch let error as CacheError {
            throw fail(error)
        }
    }

    /// Reads the caller keys file (none yet: empty), applies `edit` and writes it back; a failure ends the command.
    func editCallerKeys<Result>(_ edit: (inout CallerKeyFile) throws(CacheError) -> Result) throws -> Result {
        let path = try callerKeysPath()
        do throws(CacheError) {
            var file = try CallerKeyFile.load(path)
            let result = try edit(&file)
            // A folder that cannot be made fails the write below, which names the file.
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                     withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try file.write(to: path)
            return result
        } catch {
            throw fail(error)
        }
    }
}
