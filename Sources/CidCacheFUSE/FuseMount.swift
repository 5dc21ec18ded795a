import CFuse
import CidCacheCore
public import CidCacheEngine
import Foundation
import Glibc
public import Logging
public import ServiceLifecycle
import Synchronization

/// The mount as a service: `run()` mounts the engine at a mountpoint, serves
/// it with libfuse's multi-threaded loop, and returns once it is unmounted,
/// whether by graceful shutdown (SIGTERM, SIGINT) or from outside (`cidcache unmount`).
///
/// Shutdown goes in this order: the session stops taking requests, every
/// reader still waiting is answered ENOTCONN and later replies are dropped
/// (`ReplyGate`), the loop ends with every worker joined, and only then is the
/// session unmounted and destroyed. When the loop does not end (a callback
/// stuck), the service group's cancellation ends `run()` without destroying
/// the session: nothing can reply to it any more, and the process exit ends it.
public final class FuseMount: Service, Sendable {
    public let mountpoint: String
    private let engine: CacheEngine
    private let logger: Logger
    private let serving = Mutex<Serving?>(nil)

    /// What `stop()` needs, set while the loop runs.
    private struct Serving: @unchecked Sendable {  // the session pointer is only passed to fuse_session_exit, callable from any thread
        /// libfuse's session: only `fuse_session_exit` is called on it from here, which any thread may call.
        let session: OpaquePointer
        let loop: SessionLoop
        let gate: ReplyGate<Request>
    }

    public init(engine: CacheEngine, mountpoint: String, logger: Logger) {
        self.engine = engine
        self.mountpoint = mountpoint
        self.logger = logger
    }

    public func run() async throws {
        try MountTable.clearStale(mountpoint, logger: logger)
        let fileSystem = FileSystem(engine: engine)
        let userdata = Unmanaged.passRetained(fileSystem)
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
        guard let se else {
            userdata.release()
            throw CacheError(.io, "cannot create the FUSE session")
        }
        guard fuse_session_mount(se, mountpoint) == 0 else {
            fuse_session_destroy(se)
            userdata.release()
            throw CacheError(.io, "cannot mount at \(mountpoint) (is it an empty folder, and is /dev/fuse there?)")
        }
        fileSystem.notifier.attach(se)
        let loop = SessionLoop(session: se)
        serving.withLock { $0 = Serving(session: se, loop: loop, gate: fileSystem.gate) }
        let path = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
        let watcher = MountTable.mountID(at: path).map { MountWatcher(mountID: $0, path: path) { [self] in
            logger.info("unmounted from outside", metadata: ["mountpoint": "\(mountpoint)"])
            stop()
        } }
        logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)"])

        let ended = await withGracefulShutdownHandler {
            await loop.wait()
        } onGracefulShutdown: {
            self.stop()
        }
        watcher?.stop()
        stop()  // the loop also ends by itself when an unmount leaves no file open
        guard ended else {
            logger.error("the FUSE loop did not end in time; the session is left to the process exit",
                         metadata: ["mountpoint": "\(mountpoint)"])
            return
        }
        fuse_session_unmount(se)  // closes /dev/fuse first: requests still in the kernel fail with ENOTCONN
        fileSystem.notifier.attach(nil)
        fuse_session_destroy(se)
        userdata.release()
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }

    /// Stops serving: the session takes no new request, every parked reply is
    /// failed with ENOTCONN (while the session lives), and the loop is woken
    /// until it ends. Safe to call from any thread, more than once.
    public func stop() {
        guard let serving = serving.withLock({ state in defer { state = nil }; return state }) else { return }
        fuse_session_exit(serving.session)
        let failed = serving.gate.close { $0.error(ENOTCONN) }
        if failed > 0 { logger.info("answered waiting reads with ENOTCONN", metadata: ["reads": "\(failed)"]) }
        serving.loop.wake()
    }
}
