import ArgumentParser
import CidCacheCore
import CidCacheEngine
import Foundation

@main
struct CidCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cidcache",
        abstract: "A content-addressed cache for API calls, mounted as a filesystem.",
        subcommands: [MountCommand.self, UnmountCommand.self, QueryCommand.self, CidCommand.self, StatsCommand.self])
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
