import ArgumentParser
import CidCacheCore
import CidCacheEngine
import Foundation

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every stored byte against its CID and repair the store.",
        discussion: "Drops entries whose bytes are gone or wrong, stray and temporary files. Needs the store unmounted.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let directory = store.resolvedDataDirectory
        let report: VerifyReport
        do {
            let lock = try DataDirectory.lock(directory)
            defer { lock.release() }
            report = try DataDirectory.verify(directory)
        } catch let error as CacheError {
            throw fail(error.kind == .busy ? CacheError(.busy, "\(error.message); unmount it first") : error)
        }
        print("""
        index integrity:   \(report.indexIntact ? "ok" : "DAMAGED")
        blobs checked:     \(report.blobsChecked)
        bad blobs dropped: \(report.badBlobs.count)\(report.badBlobs.isEmpty ? "" : " (" + report.badBlobs.joined(separator: ", ") + ")")
        entries dropped:   \(report.droppedEntries.count)
        stray files:       \(report.strayFiles)
        temporary files:   \(report.temporaryFilesRemoved)
        """)
        if !report.indexIntact { throw ExitCode(2) }
    }
}
