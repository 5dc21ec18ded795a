public import CidCacheCore
import Glibc
import Synchronization

/// Stored bytes opened for reading: the one way a front reads an answer that
/// is in the store, whether a query file's hit or an entry's or a CID's file.
/// Small bytes are in memory (the engine's recent answers), or read from the
/// index at the first read (an open makes no system call); larger ones are
/// read from their file at the offsets asked, never whole.
public final class StoredBytes: Sendable {
    private enum Source {
        case memory([UInt8])
        /// Read at the first `read` (nil: they left the store since the open).
        case index(load: @Sendable () throws(CacheError) -> [UInt8]?)
        /// An open read-only descriptor, closed with this object.
        case file(fd: Int32)
    }

    /// How many bytes there are.
    public let size: Int
    private let source: Source
    private let loaded = Mutex<[UInt8]?>(nil)

    init(memory bytes: [UInt8]) {
        size = bytes.count
        source = .memory(bytes)
    }

    init(size: Int, loadingFromIndex load: @escaping @Sendable () throws(CacheError) -> [UInt8]?) {
        self.size = size
        source = .index(load: load)
    }

    init(size: Int, fd: Int32) {
        self.size = size
        source = .file(fd: fd)
    }

    deinit {
        if case .file(let fd) = source { Glibc.close(fd) }
    }

    /// Up to `count` bytes from `offset` (fewer at the end, none past it); nil
    /// when they left the store since they were opened (removed: gone, as for a
    /// new open); EIO when they cannot be read.
    public func read(at offset: Int, count: Int) throws(CacheError) -> ArraySlice<UInt8>? {
        switch source {
        case .memory(let bytes):
            return Self.slice(bytes, offset, count)
        case .index(let load):
            if let bytes = loaded.withLock({ $0 }) { return Self.slice(bytes, offset, count) }
            guard let bytes = try load() else { return nil }
            loaded.withLock { $0 = bytes }
            return Self.slice(bytes, offset, count)
        case .file(let fd):
            let wanted = max(0, min(count, size - offset))
            guard wanted > 0 else { return [] }
            var buffer = [UInt8](repeating: 0, count: wanted)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, wanted, off_t(offset)) }
            guard got >= 0 else { throw CacheError(.io, "stored bytes unreadable: \(String(cString: strerror(errno)))") }
            return buffer[..<got]
        }
    }

    /// All of the bytes (a command-line answer, a test).
    public func readAll() throws(CacheError) -> [UInt8]? {
        try read(at: 0, count: size).map(Array.init)
    }

    private static func slice(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> ArraySlice<UInt8> {
        guard offset < bytes.count else { return [] }
        return bytes[offset..<(offset + min(count, bytes.count - offset))]
    }
}
