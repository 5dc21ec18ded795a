import CidCacheCore
import CidCacheEngine
import Glibc
import Synchronization

/// One open of `ctl`: bytes are gathered into lines and each complete line runs
/// as a command. A write that completes a bad line fails with EINVAL.
final class ControlWriter: Sendable {
    private let engine: CacheEngine
    private let pending = Mutex<[UInt8]>([])

    static let lineLimit = 1 << 20

    init(engine: CacheEngine) { self.engine = engine }

    /// Takes one write; returns the errno to fail it with, or nil.
    func write(_ bytes: UnsafeRawBufferPointer, pid: Int32) -> Int32? {
        let lines: [[UInt8]]? = pending.withLock { buffer in
            buffer.append(contentsOf: bytes)
            guard buffer.count <= Self.lineLimit else {
                buffer.removeAll()
                return nil
            }
            var lines: [[UInt8]] = []
            while let newline = buffer.firstIndex(of: 0x0A) {
                lines.append(Array(buffer[..<newline]))
                buffer.removeSubrange(...newline)
            }
            return lines
        }
        guard let lines else {
            engine.recordError(namespace: nil, op: nil, requestCID: nil,
                               error: CacheError(.invalidRequest, "ctl: line longer than \(Self.lineLimit) bytes"), pid: pid)
            return EINVAL
        }
        var failed: Int32?
        for line in lines where !line.allSatisfy({ [0x20, 0x09, 0x0D].contains($0) }) {
            do {
                try engine.control(line)
            } catch let error as CacheError {
                engine.recordError(namespace: nil, op: nil, requestCID: nil,
                                   error: CacheError(.invalidRequest, "ctl: " + error.message), pid: pid)
                failed = EINVAL
            } catch {
                failed = EINVAL
            }
        }
        return failed
    }

    /// A final line without a newline runs when the file is closed (at flush,
    /// so a bad one fails the close itself); returns the errno to fail it with.
    func close(pid: Int32) -> Int32? {
        var remainder = pending.withLock { buffer in defer { buffer.removeAll() }; return buffer }
        guard !remainder.isEmpty else { return nil }
        remainder.append(0x0A)
        return remainder.withUnsafeBytes { write($0, pid: pid) }
    }
}
