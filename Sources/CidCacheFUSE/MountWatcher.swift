import Foundation
import Glibc
import Synchronization

/// Notices the mount being taken away from outside (`cidcache unmount`,
/// `fusermount3 -u -z`). A lazy unmount leaves the kernel connection, and so
/// libfuse's loop, alive while any file of the mount is open: without this
/// the daemon would outlive its mount until the last such file closed.
final class MountWatcher: Sendable {
    private let stopped = Atomic<Bool>(false)

    /// Watches the mount `mountID` at `path`; calls `onGone` once, from a thread of its own.
    init(mountID: Int, path: String, onGone: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            if watch(mountID: mountID, path: path), !stopped.load(ordering: .relaxed) { onGone() }
        }
        thread.name = "mount-watcher"
        thread.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// True when the mount went away; false when stopped first.
    private func watch(mountID: Int, path: String) -> Bool {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // The table polls POLLPRI when it changes; reading it again acknowledges the change.
        var watched = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        while !stopped.load(ordering: .relaxed) {
            let table = Self.read(fd)
            if !table.isEmpty, !MountTable.mounts(in: table).contains(where: { $0.id == mountID && $0.path == path }) {
                return true
            }
            _ = poll(&watched, 1, 250)
        }
        return false
    }

    private static func read(_ fd: Int32) -> String {
        guard lseek(fd, 0, SEEK_SET) == 0 else { return "" }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : "" }
            bytes += chunk[0..<count]
        }
    }
}
