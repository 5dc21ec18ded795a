import ArgumentParser
import CidCacheCore
import CidCacheEngine
import Foundation

/// `cidcache push`: seeds the shared tier from a local store.
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Upload every live entry of a store to the shared tier (config key \"shared\").",
        discussion: """
            Reads the store directly, so it works whether or not a daemon serves it. Entries of \
            private operations, exec commands and presigned URLs stay on this machine. Needs \
            shared.signing_key and the bucket's credentials (CIDCACHE_SHARED_ACCESS_KEY_ID and \
            CIDCACHE_SHARED_SECRET_ACCESS_KEY, else the AWS variables).
            """)

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let engine = try store.openEngineOrExit()
        let result: (pushed: Int, failed: Int)
        do {
            result = try await engine.pushToShared()
        } catch {
            await engine.shutdown()
            throw fail(error)
        }
        await engine.shutdown()
        print("pushed \(result.pushed) entries" + (result.failed > 0 ? ", \(result.failed) failed" : ""))
        if result.failed > 0 { throw ExitCode(1) }
    }
}
