import CidCacheCore
import Foundation
import Synchronization

/// An append-only file of JSON lines (`errors`, `log`), rotated at a size
/// limit: the full file moves to `<name>.1` and a new one starts.
public final class EventLog: Sendable {
    /// Where the lines are kept; the FUSE front serves this file.
    public let path: String
    private let rotateBytes: Int
    private let handle: Mutex<FileHandle?>

    init(path: String, rotateBytes: Int, truncate: Bool) {
        self.path = path
        self.rotateBytes = rotateBytes
        if truncate || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
        self.handle = Mutex(handle)
    }

    /// Appends one JSON object as a line.
    func append(_ fields: [(String, JSON)]) {
        var line = CanonicalJSON.serialize(.object(JSONObject(fields.map { (key: $0.0, value: $0.1) })))
        line.append(0x0A)
        handle.withLock { handle in
            guard let current = handle else { return }
            if let size = try? current.offset(), size + UInt64(line.count) > rotateBytes {
                try? current.close()
                try? FileManager.default.removeItem(atPath: path + ".1")
                try? FileManager.default.moveItem(atPath: path, toPath: path + ".1")
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
                handle = FileHandle(forWritingAtPath: path)
            }
            try? handle?.write(contentsOf: line)
        }
    }

    /// The current size of the file in bytes.
    public var size: Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Current time as RFC 3339 UTC with milliseconds, the `time` of every line.
    static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
