import CFuse
import CidCacheCore
import CidCacheEngine
import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// The mount as a service: `run()` mounts the engine at a mountpoint, serves
/// it with libfuse's multi-threaded loop, and returns once it is unmounted,
/// whether by graceful shutdown (SIGTERM, SIGINT) or from outside (`cidcache unmount`).
public final class FuseMount: Service, @unchecked Sendable {
    public let mountpoint: String
    private let engine: CacheEngine
    private let logger: Logger
    private let session = SessionSlot()

    public init(engine: CacheEngine, mountpoint: String, logger: Logger) {
        self.engine = engine
        self.mountpoint = mountpoint
        self.logger = logger
    }

    public func run() async throws {
        try MountTable.clearStale(mountpoint, logger: logger)
        let fileSystem = FileSystem(engine: engine)
        let userdata = Unmanaged.passRetained(fileSystem)
        defer { userdata.release() }

        var options = "fsname=cidcache,subtype=cidcache,auto_unmount"
        if engine.config.allowOther { options += ",allow_other" }
        let arguments = ["cidcache", "-o", options]
        var argv = arguments.map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var ops = LowLevelOperations.table()
        let se: OpaquePointer? = argv.withUnsafeMutableBufferPointer { buffer in
            var args = fuse_args(argc: Int32(arguments.count), argv: buffer.baseAddress, allocated: 0)
            defer { fuse_opt_free_args(&args) }
            return fuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata.toOpaque())
        }
        guard let se else { throw CacheError(.io, "cannot create the FUSE session") }
        defer { fuse_session_destroy(se) }
        guard fuse_session_mount(se, mountpoint) == 0 else {
            throw CacheError(.io, "cannot mount at \(mountpoint) (is it an empty folder, and is /dev/fuse there?)")
        }
        session.set(se)
        fileSystem.notifier.attach(se)
        logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)"])

        await withGracefulShutdownHandler {
            await Self.loop(se)
        } onGracefulShutdown: {
            self.stop()
        }
        fileSystem.notifier.attach(nil)
        session.set(nil)
        fuse_session_unmount(se)
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }

    /// Runs the multi-threaded loop on threads of its own until the session ends.
    private static func loop(_ se: OpaquePointer) async {
        let session = UncheckedSession(pointer: se)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                let config = fuse_loop_cfg_create()
                fuse_loop_cfg_set_clone_fd(config, 0)
                fuse_loop_cfg_set_idle_threads(config, 8)
                fuse_loop_cfg_set_max_threads(config, 64)
                _ = cidcache_fuse_loop_mt(session.pointer, config)
                fuse_loop_cfg_destroy(config)
                done.resume()
            }
            thread.name = "fuse-loop"
            thread.start()
        }
    }

    /// Ends the loop: flags the session and detaches the mount so blocked
    /// workers wake. libfuse 3.14 can still hang with workers parked on
    /// /dev/fuse (files held open elsewhere keep the connection); a watchdog
    /// then ends the process, after the engine has flushed its figures.
    public func stop() {
        guard let se = session.take() else { return }
        fuse_session_exit(se)
        MountTable.detach(mountpoint)
        let engine = self.engine
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) {
            engine.flush()
            _exit(0)
        }
    }
}

/// The session pointer, readable from the shutdown path while the loop runs.
private final class SessionSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var pointer: OpaquePointer?

    func set(_ value: OpaquePointer?) { lock.withLock { pointer = value } }
    func take() -> OpaquePointer? { lock.withLock { defer { pointer = nil }; return pointer } }
}

private struct UncheckedSession: @unchecked Sendable {
    let pointer: OpaquePointer
}
