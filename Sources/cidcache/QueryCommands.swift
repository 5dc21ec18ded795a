import ArgumentParser
import CidCacheCore
import CidCacheEngine
import CidCacheFUSE
import Foundation
import Glibc
import NIOCore

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Answer the request on stdin; the response goes to stdout.",
        discussion: "Goes through the mount when one serves the same data dir, else opens the store itself.")

    @Argument var namespace: String
    @Argument var op: String
    @Flag(help: "Print the request CID, content CID and outcome on stderr.") var meta = false
    @Flag(help: "Answer from the cache only.") var offline = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let body = readStandardInput()
        let directory = store.resolvedDataDirectory
        if let mountpoint = MountRegistry(dataDirectory: directory).activeMountpoint() {
            try throughMount(mountpoint, body: body)
        } else {
            try await throughEngine(body: body)
        }
    }

    private func throughMount(_ mountpoint: String, body: [UInt8]) throws {
        let path = "\(mountpoint)/api/\(namespace)/\(op)/query"
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw fail(CacheError(errnoKind(errno), "\(path): \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var written = 0
        while written < body.count {
            let n = body[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw fail(CacheError(errnoKind(errno), String(cString: strerror(errno)))) }
            written += n
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                printMeta(fromLogAt: mountpoint + "/log")
                throw fail(CacheError(errnoKind(code), String(cString: strerror(code))))
            }
            if n == 0 { break }
            FileHandle.standardOutput.write(Data(buffer[0..<n]))
        }
        printMeta(fromLogAt: mountpoint + "/log")
    }

    /// The mount's `log` names what this process's transaction did.
    private func printMeta(fromLogAt path: String) {
        guard meta, let bytes = try? readWholeFile(path) else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        let pid = Double(getpid())
        let line = text.split(separator: "\n").reversed().lazy
            .compactMap { (try? CanonicalJSON.parse(Array($0.utf8)))?.objectValue }
            .first { $0["pid"]?.doubleValue == pid }
        guard let line else { return }
        writeMeta(requestCID: line["request_cid"]?.stringValue, cid: line["cid"]?.stringValue,
                  outcome: line["outcome"]?.stringValue ?? "error")
    }

    private func writeMeta(requestCID: String?, cid: String?, outcome: String) {
        FileHandle.standardError.write(Data("request_cid=\(requestCID ?? "")\ncid=\(cid ?? "")\noutcome=\(outcome)\n".utf8))
    }

    private func throughEngine(body: [UInt8]) async throws {
        let (lock, engine) = try store.lockAndOpenEngine(offline: offline)
        defer { lock.release() }
        do {
            let answer = try await engine.query(namespace: namespace, op: op, body: body, pid: getpid())
            let bytes = try await answer.body.collect()
            FileHandle.standardOutput.write(Data(bytes))
            if meta {
                writeMeta(requestCID: answer.requestCID.string, cid: (answer.contentCID ?? CID.forContent(bytes)).string,
                          outcome: answer.outcome.rawValue)
            }
            await engine.shutdown()
        } catch let error as CacheError {
            await engine.shutdown()
            throw fail(error)
        }
    }
}

/// The failure class of an errno seen through the mount.
func errnoKind(_ code: Int32) -> CacheError.Kind {
    switch code {
    case EINVAL: return .invalidRequest
    case EFBIG: return .tooLarge
    case EACCES, EPERM: return .accessDenied
    case ENOENT: return .notFound
    case EBUSY: return .busy
    case ETIMEDOUT: return .timedOut
    case ENETUNREACH: return .offline
    case ENOSPC: return .noSpace
    default: return .io
    }
}

struct CidCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cid", abstract: "Print the request CID of the request on stdin.")

    @Argument var namespace: String
    @Argument var op: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let engine = try store.openEngine()
        do throws(CacheError) {
            print(try engine.prepare(namespace: namespace, op: op, body: readStandardInput()).requestCID.string)
        } catch {
            throw fail(error)
        }
    }
}

struct UnmountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unmount", abstract: "Unmount a cidcache mount; its daemon exits.")

    @Argument var mountpoint: String

    func run() async throws {
        let mountpoint = absolute(self.mountpoint)
        guard MountTable.isMounted(mountpoint) else {
            throw fail(CacheError(.invalidRequest, "\(mountpoint) is not mounted"))
        }
        MountTable.detach(mountpoint)
        let deadline = NIODeadline.now() + .seconds(10)
        while MountTable.isMounted(mountpoint) && NIODeadline.now() < deadline { usleep(20_000) }
        if MountTable.isMounted(mountpoint) { throw fail(CacheError(.busy, "\(mountpoint) is still mounted")) }
    }
}
