import ArgumentParser
import CidCacheCore
import CidCacheEngine
import Foundation

@main
struct CidCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cidcache",
        abstract: "A content-addressed cache for API calls, mounted as a filesystem or served over HTTP.",
        subcommands: [MountCommand.self, ServeCommand.self, UnmountCommand.self, QueryCommand.self, CidCommand.self, StatsCommand.self,
                      VerifyCommand.self, KeygenCommand.self, KeyCommand.self, PushCommand.self])
}

/// Options every command that opens a store shares.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The store's folder (default $XDG_CACHE_HOME/cidcache or ~/.cache/cidcache).")
    var dataDirectory: String?

    @Option(name: .customLong("config"), help: "A JSON config file (see the README).")
    var configFile: String?

    var resolvedDataDirectory: String {
        if let dataDirectory { return absolute(dataDirectory) }
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/cidcache" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/cidcache"
    }

    func loadConfig() throws -> CacheConfig {
        try CacheConfig.load(path: configFile.map(absolute))
    }

    /// Creates the data dir (0700) when missing, takes the store's lock and opens
    /// the engine, for a command that writes the store (one per store at a
    /// time); a failure ends the command with its message.
    func lockAndOpenEngine(truncateLogs: Bool = false, offline: Bool) throws -> (DataDirectory.Lock, CacheEngine) {
        let directory = resolvedDataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        do {
            let lock = try DataDirectory.lock(directory)
            return (lock, try openEngine(truncateLogs: truncateLogs, offline: offline))
        } catch let error as CacheError {
            throw fail(error)
        }
    }

    /// Opens the engine for a command that reads the store: a failure ends the command with its message.
    func openEngineOrExit() throws -> CacheEngine {
        do {
            return try openEngine()
        } catch let error as CacheError {
            throw fail(error)
        }
    }

    /// Opens the engine on the store (without the store lock: for read-only use).
    func openEngine(truncateLogs: Bool = false, offline: Bool = false) throws -> CacheEngine {
        var config = try loadConfig()
        if offline { config.offline = true }
        return try CacheEngine(dataDirectory: resolvedDataDirectory, config: config,
                               environment: ProcessInfo.processInfo.environment, truncateLogs: truncateLogs)
    }
}

func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

/// Reads all of standard input.
func readStandardInput() -> [UInt8] {
    [UInt8](FileHandle.standardInput.readDataToEndOfFile())
}

/// Ends the command with a message on stderr naming the errno.
func fail(_ error: CacheError) -> ExitCode {
    FileHandle.standardError.write(Data("cidcache: \(error.errnoName): \(error.message)\n".utf8))
    return ExitCode(1)
}
