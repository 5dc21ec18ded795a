import ArgumentParser
import CidCacheCore
import CidCacheShared
import Foundation

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new Ed25519 signing key for the shared tier (coming) and print its public key.",
        discussion: """
            FILE gets one line, ed25519-private:<base64 of the 32-byte seed>, mode 0600; an existing \
            FILE is never overwritten. Standard output gets the public key line, ed25519:<base64>, \
            as trusted_keys takes it.
            """)

    @Argument(help: "The private key file to create.")
    var file: String

    func run() async throws {
        let path = absolute(file)
        let key = Ed25519PrivateKey.generate()
        do throws(CacheError) {
            try writeNewSecretFile(path, SigningKeyFile.contents(of: key))
        } catch {
            throw fail(error)
        }
        print(key.publicKey.text)
    }
}

/// Creates `path` with mode 0600 whatever the umask, and writes `contents`;
/// refuses an existing file (or link), and removes what it created if writing fails.
private func writeNewSecretFile(_ path: String, _ contents: [UInt8]) throws(CacheError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
        let code = errno
        if code == EEXIST { throw CacheError(.invalidRequest, "\(path) already exists; keygen never overwrites a key") }
        throw CacheError(.io, "cannot create \(path): \(String(cString: strerror(code)))")
    }
    var written = 0
    var failure: Int32 = fchmod(fd, 0o600) == 0 ? 0 : errno
    while failure == 0 && written < contents.count {
        let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { failure = n < 0 ? errno : EIO } else { written += n }
    }
    if failure == 0 && fsync(fd) != 0 { failure = errno }
    close(fd)
    if failure != 0 {
        unlink(path)
        throw CacheError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
    }
}
