import ArgumentParser
import CidCacheCore
import CidCacheEngine
import CidCacheFUSE
import CidCacheHTTP
import Foundation
import Logging
import NIOCore
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

    @OptionGroup var listen: HTTPOption

    func run() async throws {
        let mountpoint = absolute(self.mountpoint)
        let address = try listen.address(config: store)
        try? FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        if foreground {
            try await serve(mountpoint, http: address)
        } else {
            try startDaemon(mountpoint, http: address)
        }
    }

    /// Serves the mount (and the HTTP front, when asked) in this process until it is unmounted or signalled.
    private func serve(_ mountpoint: String, http address: ListenAddress?) async throws {
        let registry = MountRegistry(dataDirectory: store.resolvedDataDirectory)
        var recorded = false
        defer { if recorded { registry.clear() } }
        try await runDaemon(store: store, offline: offline) { engine, logger in
            registry.record(mountpoint: mountpoint)
            recorded = true
            var fronts: [any Service] = [FuseMount(engine: engine, mountpoint: mountpoint, logger: logger)]
            if let address { fronts.append(try store.httpFront(engine: engine, address: address, logger: logger)) }
            return fronts
        }
    }

    /// Starts a daemon (this program in the foreground, in a session of its
    /// own) and returns once the mount answers.
    private func startDaemon(_ mountpoint: String, http address: ListenAddress?) throws {
        let directory = store.resolvedDataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let logPath = directory + "/daemon.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600])
        var arguments = [mountpoint, "--foreground", "--data-dir", directory]
        if let config = store.configFile { arguments += ["--config", absolute(config)] }
        if offline { arguments.append("--offline") }
        if let http = listen.http { arguments += ["--http", http] }
        let pid = try Daemon.spawn(executable: Daemon.executablePath, arguments: ["mount"] + arguments, logPath: logPath)
        let deadline = NIODeadline.now() + .seconds(30)
        while NIODeadline.now() < deadline {
            guard Daemon.isAlive(pid) else { break }
            if MountTable.isMounted(mountpoint), MountTable.answers(mountpoint) {
                // Commands that run as printed: this binary by its absolute path
                // (nothing put it on PATH), and the store when it is not the default.
                let binary = shellWord(Daemon.invocationPath)
                let storeArgument = store.dataDirectory == nil ? "" : " --data-dir " + shellWord(directory)
                if let address { print("cidcache serving http://\(address)/<namespace> (e.g. OPENAI_BASE_URL=http://\(address)/openai)") }
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

/// `text` as one shell word: as it is when no character needs quoting, else in single quotes.
func shellWord(_ text: String) -> String {
    let plain = !text.isEmpty && text.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/._-+,:=@%".utf8.contains(byte)
    }
    return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
