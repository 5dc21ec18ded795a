import ArgumentParser
import CidCacheCore
import CidCacheEngine
import CidCacheHTTP
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the cache over HTTP without a mount (in the foreground).",
        discussion: "Takes the store's lock like mount: one daemon per store. SIGTERM and SIGINT stop it.")

    @OptionGroup var listen: HTTPOption
    @OptionGroup var store: StoreOptions

    @Flag(help: "Answer from the cache only: a miss fails (503, ENETUNREACH).")
    var offline = false

    func run() async throws {
        guard let address = try listen.address(config: store) else {
            throw fail(CacheError(.invalidRequest, "serve needs --http HOST:PORT or the config's http.listen"))
        }
        try await runDaemon(store: store, offline: offline) { engine, logger in
            [try store.httpFront(engine: engine, address: address, logger: logger)]
        }
    }
}

/// `--http HOST:PORT`, which the config's `http.listen` stands in for.
struct HTTPOption: ParsableArguments {
    @Option(name: .customLong("http"), help: "Serve the HTTP front at this loopback HOST:PORT (e.g. 127.0.0.1:8421).")
    var http: String?

    /// The address asked for, by the option or else the config; nil when neither asks. Ends the command on a bad one.
    func address(config store: StoreOptions) throws -> ListenAddress? {
        do {
            guard let text = try http ?? store.loadConfig().httpListen else { return nil }
            return try ListenAddress(parsing: text)
        } catch let error as CacheError {
            throw fail(error)
        }
    }
}

extension StoreOptions {
    /// The HTTP front at `address` with the caller keys the config names; a keys file that cannot be read ends the command.
    func httpFront(engine: CacheEngine, address: ListenAddress, logger: Logger) throws -> HTTPFront {
        do {
            let keys = try CallerKeys(path: try callerKeysPath(), required: engine.config.httpRequiresKey)
            return try HTTPFront(engine: engine, address: address, keys: keys, logger: logger)
        } catch let error as CacheError {
            throw fail(error)
        }
    }
}

/// Opens the store under its lock (one daemon per store) and runs the fronts
/// `makeFronts` gives, with the engine's maintenance, until a front ends or
/// SIGTERM or SIGINT stops them; then flushes and releases the store.
/// `makeFronts` runs once the lock is held.
func runDaemon(store: StoreOptions, offline: Bool,
               makeFronts: (CacheEngine, Logger) throws -> [any Service]) async throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    let logger = Logger(label: "cidcache")
    let (lock, engine) = try store.lockAndOpenEngine(truncateLogs: true, offline: offline)
    let services: [any Service]
    do {
        services = try makeFronts(engine, logger) + [EngineMaintenance(engine: engine)]
    } catch let error as CacheError {
        await engine.shutdown()
        throw fail(error)
    }
    var configuration = ServiceGroupConfiguration(
        services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger)
    // The mount's loop normally ends within milliseconds of a stop, and the
    // HTTP front once its requests in progress are answered; past these
    // bounds they are cancelled (`FuseMount.run` then leaves its session to
    // the kernel, and streams still being sent are cut) and the process exits.
    configuration.maximumGracefulShutdownDuration = .seconds(4)
    configuration.maximumCancellationDuration = .seconds(3)
    do {
        try await ServiceGroup(configuration: configuration).run()
    } catch {
        await engine.shutdown()
        throw fail(CacheError(wrapping: error))
    }
    await engine.shutdown()
    lock.release()
}

/// Flushes the engine's figures every second; the last flush happens at shutdown.
struct EngineMaintenance: Service {
    let engine: CacheEngine

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await engine.runMaintenance()
        }
    }
}
