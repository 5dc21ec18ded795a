import CidCacheEngine
import Glibc

/// What an open file of the mount holds between open and release, carried in
/// the kernel's file handle.
final class OpenHandle: Sendable {
    enum Kind: Sendable {
        /// A file read at the kernel's offsets: key documents, errors, log.
        case file(fd: Int32)
        /// Bytes fixed at open (README, stats), read at the kernel's offsets.
        case snapshot([UInt8])
        /// Stored bytes (an entry's body, `cid/<cid>`); a repeat open is
        /// answered from the page cache, never read.
        case stored(StoredBytes)
        case query(QueryTransaction<Request>)
        case control(ControlWriter)
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    deinit {
        if case .file(let fd) = kind { Glibc.close(fd) }
    }

    /// Hands the handle to the kernel through `send` (a `fuse_reply_open`
    /// returning 0 or a negative errno); balanced by `release(_:)` when the
    /// kernel took it, at once when it did not.
    func hand(to send: (UInt64) -> Int32) {
        let handle = UInt64(UInt(bitPattern: Unmanaged.passRetained(self).toOpaque()))
        if send(handle) != 0 { _ = Self.release(handle) }
    }

    static func borrow(_ handle: UInt64) -> OpenHandle? {
        guard handle != 0, let pointer = UnsafeRawPointer(bitPattern: UInt(handle)) else { return nil }
        return Unmanaged<OpenHandle>.fromOpaque(pointer).takeUnretainedValue()
    }

    static func release(_ handle: UInt64) -> OpenHandle? {
        guard handle != 0, let pointer = UnsafeRawPointer(bitPattern: UInt(handle)) else { return nil }
        return Unmanaged<OpenHandle>.fromOpaque(pointer).takeRetainedValue()
    }
}
