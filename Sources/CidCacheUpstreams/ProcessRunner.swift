import CidCacheCore
import Foundation
import Glibc
import NIOCore

/// Runs one command with posix_spawn, never through a shell: argv as given,
/// stdin fed from bytes, stdout and stderr collected, killed (its whole process
/// group) at the deadline. Each run has its own thread, so a blocking child
/// never holds a task thread.
public enum ProcessRunner {
    public struct Result: Sendable {
        /// The exit status, or nil when a signal ended the command.
        public var exitStatus: Int32?
        public var signal: Int32?
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var timedOut: Bool
        public var outputTooLarge: Bool
    }

    /// The executable a command name runs: as given when it holds a `/`, else found on `PATH`.
    static func resolve(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !dir.isEmpty {
            let candidate = dir + "/" + name
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `argv` to its end (or the deadline) off the cooperative pool.
    public static func run(argv: [String], stdin: [UInt8], cwd: String?, timeoutSeconds: Double,
                           outputLimit: Int) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result2 { try runBlocking(argv: argv, stdin: stdin, cwd: cwd,
                                                                    timeoutSeconds: timeoutSeconds, outputLimit: outputLimit) })
            }
            thread.name = "cidcache-exec"
            thread.start()
        }
    }

    private typealias Result2 = Swift.Result<Result, Error>

    static func runBlocking(argv: [String], stdin input: [UInt8], cwd: String?, timeoutSeconds: Double,
                            outputLimit: Int) throws -> Result {
        guard let first = argv.first, let executable = resolve(first) else {
            throw CacheError(.io, "cannot run \(argv.first ?? "nothing"): not found or not executable")
        }
        // A child that exits before reading its stdin must give EPIPE here, not kill the daemon.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&pipeSignal, nil, &zero)
            }
        }

        // Checked before any descriptor exists, so refusing leaks none.
        if cwd != nil, GlibcExtensions.addChdir == nil { throw CacheError(.io, "this C library cannot set a command's cwd") }
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            for fd in inPipe + outPipe + errPipe where fd >= 0 { close(fd) }
            throw CacheError(.io, "cannot make pipes: \(String(cString: strerror(errno)))")
        }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of the daemon's (the FUSE device, the store) reaches the child.
        if let closeFrom = GlibcExtensions.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let cwd, let addChdir = GlibcExtensions.addChdir { _ = addChdir(&actions, cwd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, environ)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw CacheError(.io, "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }

        var result = Result(exitStatus: nil, signal: nil, stdout: [], stderr: [], timedOut: false, outputTooLarge: false)
        var stdinFD: Int32 = inPipe[1], outFD: Int32 = outPipe[0], errFD: Int32 = errPipe[0]
        for fd in [stdinFD, outFD, errFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if input.isEmpty { close(stdinFD); stdinFD = -1 }
        var written = 0
        let deadline = Deadline.after(seconds: timeoutSeconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        func killGroup() {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }

        while outFD >= 0 || errFD >= 0 {
            let remaining = Double((deadline - .now()).nanoseconds) / 1e9
            if remaining <= 0 { result.timedOut = true; killGroup(); break }
            var polls = [pollfd]()
            if stdinFD >= 0 { polls.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if outFD >= 0 { polls.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errFD >= 0 { polls.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&polls, nfds_t(polls.count), Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { killGroup(); break }
            for p in polls where p.revents != 0 {
                if p.fd == stdinFD {
                    let n = input.withUnsafeBytes { write(stdinFD, $0.baseAddress! + written, min(65536, input.count - written)) }
                    if n > 0 { written += n }
                    if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count || p.revents & Int16(POLLERR) != 0 {
                        close(stdinFD); stdinFD = -1
                    }
                } else {
                    let n = read(p.fd, &buffer, buffer.count)
                    if n > 0 {
                        if p.fd == outFD { result.stdout += buffer[0..<n] } else if result.stderr.count < 65536 { result.stderr += buffer[0..<n] }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        close(p.fd)
                        if p.fd == outFD { outFD = -1 } else { errFD = -1 }
                    }
                }
            }
            if result.stdout.count > outputLimit { result.outputTooLarge = true; killGroup(); break }
        }
        for fd in [stdinFD, outFD, errFD] where fd >= 0 { close(fd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let termination = status & 0x7F
        if termination == 0 { result.exitStatus = (status >> 8) & 0xFF } else { result.signal = termination }
        return result
    }
}

/// glibc's GNU spawn extensions (2.29, 2.34), which the Glibc module does not
/// import without `_GNU_SOURCE`: looked up at run time.
private enum GlibcExtensions {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }
    static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }
}
