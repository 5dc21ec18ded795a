import CFuse
import Foundation
import Glibc
import NIOCore
import Synchronization

/// What a handler that answers later needs of a kernel request: `Request`
/// is the real one; tests stand in their own for `fuse_req_t`.
protocol Replying: Sendable {
    /// The calling process, for the `errors` and `log` lines.
    var pid: Int32 { get }
    func error(_ errno: Int32)
    func bytes(_ bytes: UnsafeRawBufferPointer)
    func written(_ count: Int)
    /// This request with `handler` called when the caller is interrupted (at
    /// once when it was already). The handler runs on any thread, possibly
    /// while libfuse holds the request's lock: it must neither reply nor
    /// block. A reply through the returned request (`error`, `bytes`,
    /// `written`) first unregisters it, waiting for a call under way, so none
    /// runs once the reply is sent.
    func interruptible(_ handler: @escaping @Sendable () -> Void) -> Self
}

/// A kernel request awaiting its one reply. libfuse's `fuse_req_t` stays valid
/// on any thread until replied to, so it may travel into a Swift task
/// (hence `@unchecked`: a C pointer that libfuse lets any thread answer).
struct Request: Replying, @unchecked Sendable {  // fuse_req_t: libfuse lets any thread reply, once
    let raw: fuse_req_t
    /// The interrupt handler handed to libfuse, retained until the reply unregisters it.
    private let hook: Unmanaged<InterruptHook>?

    init(raw: fuse_req_t) {
        self.raw = raw
        hook = nil
    }

    private init(raw: fuse_req_t, hook: Unmanaged<InterruptHook>) {
        self.raw = raw
        self.hook = hook
    }

    /// The calling process, for the `errors` and `log` lines. The kernel
    /// sends the calling thread's id; its thread group is the process.
    var pid: Int32 { ProcessIDCache.shared.processID(ofThread: fuse_req_ctx(raw).pointee.pid) }

    func interruptible(_ handler: @escaping @Sendable () -> Void) -> Request {
        let hook = Unmanaged.passRetained(InterruptHook(handler))
        // libfuse calls it at once when the reader was interrupted already.
        fuse_req_interrupt_func(raw, { _, data in
            guard let data else { return }
            Unmanaged<InterruptHook>.fromOpaque(data).takeUnretainedValue().handler()
        }, hook.toOpaque())
        return Request(raw: raw, hook: hook)
    }

    /// Unregisters the interrupt handler before the reply. libfuse calls a
    /// handler under the request's lock, and so takes it here: once this
    /// returns no call is under way and none will come, so the handler can go.
    /// (A reply alone does not wait: libfuse may have read the handler just
    /// before it and call it after.) Never called from the handler itself.
    private func unhook() {
        guard let hook else { return }
        fuse_req_interrupt_func(raw, nil, nil)
        hook.release()
    }

    func error(_ errno: Int32) {
        unhook()
        fuse_reply_err(raw, errno)
    }

    func bytes(_ bytes: UnsafeRawBufferPointer) {
        unhook()
        fuse_reply_buf(raw, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    func bytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.bytes($0) }
    }

    /// Replies with at most `size` of `bytes` from `offset` (none past the end).
    func bytes(_ bytes: [UInt8], from offset: Int64, size: Int) {
        let start = min(Int(offset), bytes.count), end = min(start + size, bytes.count)
        bytes.withUnsafeBytes { self.bytes(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    func written(_ count: Int) {
        unhook()
        fuse_reply_write(raw, count)
    }

    func attributes(_ st: stat, timeout: Double) {
        var st = st
        fuse_reply_attr(raw, &st, timeout)
    }

    func entry(inode: UInt64, attributes: stat, timeout: Double) {
        var param = fuse_entry_param()
        param.ino = inode
        param.generation = 0
        param.attr = attributes
        param.attr_timeout = timeout
        param.entry_timeout = timeout
        fuse_reply_entry(raw, &param)
    }

    /// Opens a file: hands `handle` to the kernel, which releases it at the
    /// last close. An open interrupted meanwhile fails its reply and never
    /// gets a release, so the handle is released here.
    func open(_ handle: OpenHandle, directIO: Bool, keepCache: Bool, nonSeekable: Bool = false, noFlush: Bool = false) {
        handle.hand { fh in
            var info = Self.fileInfo(fh, directIO: directIO, keepCache: keepCache, nonSeekable: nonSeekable, noFlush: noFlush)
            return fuse_reply_open(raw, &info)
        }
    }

    /// Opens a folder; `snapshot` comes back with each readdir (nothing to release).
    func openDirectory(snapshot: UInt64) {
        var info = Self.fileInfo(snapshot, directIO: false, keepCache: false, nonSeekable: false, noFlush: false)
        fuse_reply_open(raw, &info)
    }

    private static func fileInfo(_ fh: UInt64, directIO: Bool, keepCache: Bool, nonSeekable: Bool, noFlush: Bool) -> fuse_file_info {
        var info = fuse_file_info()
        info.fh = fh
        cidcache_fi_set_direct_io(&info, directIO ? 1 : 0)
        cidcache_fi_set_keep_cache(&info, keepCache ? 1 : 0)
        cidcache_fi_set_nonseekable(&info, nonSeekable ? 1 : 0)
        cidcache_fi_set_noflush(&info, noFlush ? 1 : 0)
        return info
    }

    /// Answers an xattr query: the size when asked for 0 bytes, ERANGE when too small.
    func xattr(_ value: [UInt8], size: Int) {
        if size == 0 {
            fuse_reply_xattr(raw, value.count)
        } else if size < value.count {
            fuse_reply_err(raw, ERANGE)
        } else {
            bytes(value)
        }
    }

    func none() { fuse_reply_none(raw) }
}

/// An interrupt handler as libfuse holds it (a pointer to this object).
private final class InterruptHook: Sendable {
    let handler: @Sendable () -> Void

    init(_ handler: @escaping @Sendable () -> Void) { self.handler = handler }
}

/// Thread id to process id, read from `/proc/<tid>/status` and remembered for
/// a second: a client's transactions come from the same few threads, and the
/// kernel cannot hand a thread id to another process within a second (it would
/// have to cycle through every other id first).
final class ProcessIDCache: Sendable {
    static let shared = ProcessIDCache()
    private static let lifetimeNanoseconds: UInt64 = 1_000_000_000
    private static let capacity = 4096
    private let known = Mutex<[pid_t: (pid: pid_t, readAt: UInt64)]>([:])

    func processID(ofThread tid: pid_t) -> pid_t {
        let now = NIODeadline.now().uptimeNanoseconds
        if let cached = known.withLock({ $0[tid] }), now - cached.readAt < Self.lifetimeNanoseconds {
            return cached.pid
        }
        let pid = Self.read(thread: tid)
        known.withLock { known in
            if known.count >= Self.capacity { known.removeAll(keepingCapacity: true) }
            known[tid] = (pid, now)
        }
        return pid
    }

    private static func read(thread tid: pid_t) -> pid_t {
        let fd = Glibc.open("/proc/\(tid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return tid }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = Glibc.read(fd, &buffer, buffer.count)
        guard count > 0 else { return tid }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
              let tgid = pid_t(String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces)) else { return tid }
        return tgid
    }
}
