import CLinux
import CidCacheCore
import CidCacheUpstreams
import Foundation
import Synchronization

/// An append-only file of JSON lines (`errors`, `log`), rotated at a size
/// limit: the full file moves to `<name>.1` and a new one starts.
///
/// Disk blocks are reserved ahead of the end of the file, so the line that
/// says the disk is full still finds room when the disk is full.
public final class EventLog: Sendable {
    /// Where the lines are kept; the FUSE front serves this file.
    public let path: String
    private let rotateBytes: Int
    private static let reserveBytes: UInt64 = 64 * 1024

    /// The open file, written with plain `write(2)` at an end it keeps track
    /// of (one system call a line: this is on the path of every cached answer).
    private struct Writer {
        var fd: Int32
        /// Where the next line goes: the file's size.
        var end: UInt64 = 0
        /// The end of the blocks reserved so far (the file's size stays its content's).
        var reservedUntil: UInt64 = 0

        /// Opens the file at its end (made empty first when `empty`), with blocks reserved past it.
        init(path: String, empty: Bool) {
            fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (empty ? O_TRUNC : 0), 0o600)
            guard fd >= 0 else { return }
            let size = lseek(fd, 0, SEEK_END)
            end = size > 0 ? UInt64(size) : 0
            reserve(needing: 1)
        }

        mutating func reserve(needing count: Int) {
            guard fd >= 0, end + UInt64(count) > reservedUntil else { return }
            if cidcache_reserve_blocks(fd, Int64(end), Int64(EventLog.reserveBytes)) == 0 {
                reservedUntil = end + EventLog.reserveBytes
            }
        }

        /// Writes the whole line at the end; a line the disk refuses is lost, never half written twice.
        mutating func write(_ line: [UInt8]) {
            var written = 0
            while written < line.count {
                let n = line.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, line.count - written, off_t(end) + off_t(written)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                written += n
            }
            end += UInt64(written)
        }

        func close() {
            if fd >= 0 { _ = Glibc.close(fd) }
        }
    }
    private let writer: Mutex<Writer>

    init(path: String, rotateBytes: Int, truncate: Bool) {
        self.path = path
        self.rotateBytes = rotateBytes
        writer = Mutex(Writer(path: path, empty: truncate))
    }

    /// Appends one JSON object as a line.
    func append(_ fields: [(String, JSON)]) {
        var line = CanonicalJSON.serialize(.object(JSONObject(fields.map { (key: $0.0, value: $0.1) })))
        line.append(0x0A)
        writer.withLock { writer in
            guard writer.fd >= 0 else { return }
            if writer.end + UInt64(line.count) > rotateBytes {
                writer.close()
                rename(path, path + ".1")
                writer = Writer(path: path, empty: true)
            }
            writer.reserve(needing: line.count)
            writer.write(line)
        }
    }

    /// The current size of the file in bytes.
    public var size: Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Current time as RFC 3339 UTC with milliseconds, the `time` of every line.
    /// Formatted by hand: building an `ISO8601DateFormatter` per line cost more
    /// than the rest of a cached transaction.
    static func timestamp(_ date: Date = Date()) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func padded(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2)
            + "T" + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2)
            + "." + padded(Int32(milliseconds % 1000), 3) + "Z"
    }
}
