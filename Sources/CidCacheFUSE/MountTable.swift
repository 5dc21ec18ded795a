import CidCacheCore
import Foundation
import Glibc
import Logging

/// What the kernel's mount table says about a mountpoint, and the two ways
/// cidcache takes a mount away: detaching its own, clearing a dead one.
public enum MountTable {
    /// Whether `path` is a mountpoint now (per /proc/self/mountinfo).
    public static func isMounted(_ path: String) -> Bool {
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return mounts(in: table).contains { $0.path == target }
    }

    /// The kernel's id of the newest cidcache mount at `path`, which tells it
    /// apart from whatever is mounted there after it.
    static func mountID(at path: String) -> Int? {
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        return mounts(in: table).last { $0.path == target && $0.type == "fuse.cidcache" }?.id
    }

    /// The mounts listed in the text of /proc/self/mountinfo.
    static func mounts(in table: String) -> [(id: Int, path: String, type: String)] {
        table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4, let id = Int(fields[0]),
                  let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count else { return nil }
            return (id, unescape(String(fields[4])), String(fields[separator + 1]))
        }
    }

    private static func unescape(_ field: String) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }

    /// Whether a live daemon answers at `path`: statfs always reaches the
    /// daemon (stat may be answered from the kernel's cache of a dead mount).
    public static func answers(_ path: String) -> Bool {
        var st = statvfs()
        return statvfs(path, &st) == 0
    }

    /// A mount whose daemon died answers ENOTCONN: detach it so the folder can be mounted again.
    static func clearStale(_ path: String, logger: Logger) throws {
        var st = statvfs()
        if statvfs(path, &st) == 0 {
            if isMounted(path) { throw CacheError(.busy, "\(path) is already mounted") }
            return
        }
        guard errno == ENOTCONN || errno == ECONNABORTED else {
            throw CacheError(.notFound, "mountpoint \(path): \(String(cString: strerror(errno)))")
        }
        logger.notice("clearing a stale mount left by a daemon that died", metadata: ["mountpoint": "\(path)"])
        detach(path)
    }

    /// Lazily unmounts `path`: as root directly, otherwise through fusermount3.
    public static func detach(_ path: String) {
        if getuid() == 0, umount2(path, Int32(MNT_DETACH)) == 0 { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
        process.arguments = ["-u", "-z", "-q", path]
        try? process.run()
        process.waitUntilExit()
    }
}
