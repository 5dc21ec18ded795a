import CidCacheCore
import CidCacheFUSE
import Foundation
import Glibc

/// Starting and finding the mount daemon.
enum Daemon {
    /// This program's own path.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The absolute path this program was started by (`./mount` gives
    /// `.build/release/cidcache`), or its own path when it was found on PATH.
    static var invocationPath: String {
        let argument = CommandLine.arguments[0]
        guard argument.contains("/") else { return executablePath }
        return URL(fileURLWithPath: absolute(argument)).standardizedFileURL.path
    }

    /// Starts this program detached (new session, stdin from /dev/null,
    /// output to `logPath`) and returns its pid.
    static func spawn(executable: String, arguments: [String], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26), not exported to Swift
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else { throw CacheError(.io, "cannot start the daemon: \(String(cString: strerror(status)))") }
        return pid
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        return kill(pid, 0) == 0
    }
}

/// `mount.json` in the data dir: which mountpoint serves this store, so the
/// CLI can go through the mount instead of opening the store a second time.
struct MountRegistry {
    let path: String

    init(dataDirectory: String) { path = dataDirectory + "/mount.json" }

    func record(mountpoint: String) {
        let document = JSON.object(JSONObject([
            (key: "mountpoint", value: .string(mountpoint)),
            (key: "pid", value: .number(Double(getpid()))),
        ]))
        _ = FileManager.default.createFile(atPath: path, contents: Data(CanonicalJSON.serialize(document)),
                                       attributes: [.posixPermissions: 0o600])
    }

    func clear() { try? FileManager.default.removeItem(atPath: path) }

    /// The live mountpoint serving this store, if any.
    func activeMountpoint() -> String? {
        guard let bytes = FileManager.default.contents(atPath: path),
              let object = (try? CanonicalJSON.parse([UInt8](bytes)))?.objectValue,
              let mountpoint = object["mountpoint"]?.stringValue,
              let pid = object["pid"]?.intValue, kill(pid_t(pid), 0) == 0,
              MountTable.answers(mountpoint) else { return nil }
        return mountpoint
    }
}
