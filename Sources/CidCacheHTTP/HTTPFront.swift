public import CidCacheCore
public import CidCacheEngine
import Glibc
import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle

/// The HTTP front as a service: serves the engine over HTTP/1.1 at a loopback
/// address until graceful shutdown (SIGTERM, SIGINT), when it stops taking
/// connections and lets the requests in progress finish (bounded by the
/// service group's graceful shutdown duration, then cancelled).
///
/// Each namespace lives under `/<namespace>`, which stands for its base URL,
/// so an SDK uses the cache by changing its base URL alone: the routes that
/// are operations go through the engine as a query file does, everything else
/// is passed through uncached (README, "The HTTP front").
public struct HTTPFront: Service {
    /// The server; internal so the unit tests can drive it in-process (HummingbirdTesting).
    let application: Application<FrontResponder>
    private let address: ListenAddress

    /// EINVAL when a namespace's upstream is this front itself (`SelfCallCheck`).
    /// - Parameter keys: the caller keys the front knows (README, "Caller keys").
    public init(engine: CacheEngine, address: ListenAddress, keys: CallerKeys, logger: Logger) throws(CacheError) {
        try SelfCallCheck.check(engine.namespaceNames.compactMap { engine.namespaces[$0] }, address: address)
        self.address = address
        application = Application(
            responder: FrontResponder(engine: engine, keys: keys),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port),
                                                    serverName: "cidcache"),
            logger: logger)
    }

    /// Serves until graceful shutdown; EBUSY when another process listens at the address already.
    public func run() async throws {
        do {
            try await application.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CacheError(.busy, "cannot listen on \(address): the address is in use")
        }
    }
}
