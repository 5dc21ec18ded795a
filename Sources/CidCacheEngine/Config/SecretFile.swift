public import CidCacheCore
import Glibc

/// Files that hold secrets or their digests (signing keys, caller keys):
/// mode 0600 whatever the umask, written whole and synced, never through a link.
public enum SecretFile {
    /// Creates `path` with `contents`; refuses an existing file (or link)
    /// with `existsMessage`, and removes what it created if writing fails.
    public static func create(_ path: String, _ contents: [UInt8], existsMessage: String) throws(CacheError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST { throw CacheError(.invalidRequest, existsMessage) }
            throw CacheError(.io, "cannot create \(path): \(String(cString: strerror(code)))")
        }
        if let failure = fill(fd, contents) {
            unlink(path)
            throw CacheError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Replaces `path` with `contents`: a new file beside it, synced, then
    /// renamed over it, so a reader sees the old file or the new one.
    public static func replace(_ path: String, _ contents: [UInt8]) throws(CacheError) {
        let temporary = path + ".new"
        unlink(temporary)
        try create(temporary, contents, existsMessage: "\(temporary) is in the way")
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            throw CacheError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Writes `contents` to a new file and closes it; the errno of a failure.
    private static func fill(_ fd: Int32, _ contents: [UInt8]) -> Int32? {
        var written = 0
        var failure: Int32 = fchmod(fd, 0o600) == 0 ? 0 : errno
        while failure == 0 && written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = n < 0 ? errno : EIO } else { written += n }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        return failure == 0 ? nil : failure
    }
}

/// A whole file, read with plain read calls (the mount's dynamic files are
/// direct_io, which Foundation's readers, which may map a file, cannot use);
/// nil when there is none (ENOENT), an EIO naming it for any other failure.
public func readWholeFile(_ path: String) throws(CacheError) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        if errno == ENOENT { return nil }
        throw CacheError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var bytes: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = Glibc.read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw CacheError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { return bytes }
        bytes += buffer[0..<n]
    }
}
