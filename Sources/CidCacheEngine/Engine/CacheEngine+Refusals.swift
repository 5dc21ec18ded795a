import CidCacheCore
import Glibc

extension CacheEngine {
    /// Writes the `errors` line of a request a front refused before asking the
    /// engine anything (an HTTP request without a caller key, say).
    public func recordRefusal(namespace: String?, _ error: CacheError) {
        log.recordError(namespace: namespace.flatMap { namespaces[$0] == nil ? nil : $0 }, op: nil, requestCID: nil,
                        error: error, pid: 0)
    }
}
