import ArgumentParser
import CidCacheCore
import CidCacheEngine
import CidCacheFUSE
import Foundation
import Logging
import ServiceLifecycle

struct MountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mount", abstract: "Mount the cache at MOUNTPOINT.")

    @Argument(help: "An empty folder to mount the cache on (created when missing).")
    var mountpoint: String

    @OptionGroup var store: StoreOptions

    @Flag(help: "Stay in the foreground instead of returning once the mount answers.")
    var foreground = false

    @Flag(help: "Answer from the cache only: a miss fails with ENETUNREACH.")
    var offline = false

    func run() async throws {
        let mountpoint = absolute(self.mountpoint)
        try? FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        if foreground {
            try await serve(mountpoint)
        } else {
            try startDaemon(mountpoint)
        }
    }

    /// Serves the mount in this process until it is unmounted or signalled.
    private func serve(_ mountpoint: String) async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "cidcache")
        let directory = store.resolvedDataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let lock: StoreLock
        let engine: CacheEngine
        do {
            lock = try DataDirectory.lock(directory)
            engine = try store.openEngine(truncateLogs: true, offline: offline)
        } catch let error as CacheError {
            throw fail(error)
        }
        let registry = MountRegistry(dataDirectory: directory)
        let mount = FuseMount(engine: engine, mountpoint: mountpoint, logger: logger)
        let maintenance = EngineMaintenance(engine: engine)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: mount, successTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: maintenance, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // The mount's loop normally ends within milliseconds of a stop; past
        // these bounds `FuseMount.run` gives up on it (cancellation) and the
        // process exits with the session left to the kernel.
        configuration.maximumGracefulShutdownDuration = .seconds(4)
        configuration.maximumCancellationDuration = .seconds(3)
        let group = ServiceGroup(configuration: configuration)
        registry.record(mountpoint: mountpoint)
        defer { registry.clear() }
        do {
            try await group.run()
        } catch let error as CacheError {
            await engine.shutdown()
            throw fail(error)
        }
        await engine.shutdown()
        lock.release()
    }

    /// Starts a daemon (this program in the foreground, in a session of its
    /// own) and returns once the mount answers.
    private func startDaemon(_ mountpoint: String) throws {
        let directory = store.resolvedDataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let logPath = directory + "/daemon.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600])
        var arguments = [mountpoint, "--foreground", "--data-dir", directory]
        if let config = store.configFile { arguments += ["--config", absolute(config)] }
        if offline { arguments.append("--offline") }
        let pid = try Daemon.spawn(executable: Daemon.executablePath, arguments: ["mount"] + arguments, logPath: logPath)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard Daemon.isAlive(pid) else { break }
            if MountTable.isMounted(mountpoint), MountTable.answers(mountpoint) {
                // Commands that run as printed: this binary by its absolute path
                // (nothing put it on PATH), and the store when it is not the default.
                let binary = shellWord(Daemon.invocationPath)
                let storeArgument = store.dataDirectory == nil ? "" : " --data-dir " + shellWord(directory)
                print("""
                cidcache mounted at \(mountpoint) (daemon pid \(pid), store \(directory))
                  how to use it:  cat \(shellWord(mountpoint + "/README"))
                  ask:            \(binary) query openai chat.completions\(storeArgument) < request.json
                  unmount:        \(binary) unmount \(shellWord(mountpoint))
                """)
                return
            }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw fail(CacheError(.io, "the mount did not come up; daemon log:\n\(log)"))
    }
}

/// Flushes the engine's figures every second; the last flush happens at shutdown.
struct EngineMaintenance: Service {
    let engine: CacheEngine

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await engine.runMaintenance()
        }
    }
}

/// `text` as one shell word: as it is when no character needs quoting, else in single quotes.
func shellWord(_ text: String) -> String {
    let plain = !text.isEmpty && text.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/._-+,:=@%".utf8.contains(byte)
    }
    return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
