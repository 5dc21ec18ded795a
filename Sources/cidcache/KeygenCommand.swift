import ArgumentParser
import CidCacheCore
import CidCacheEngine
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
            try SecretFile.create(path, SigningKeyFile.contents(of: key),
                                  existsMessage: "\(path) already exists; keygen never overwrites a key")
        } catch {
            throw fail(error)
        }
        print(key.publicKey.text)
    }
}
