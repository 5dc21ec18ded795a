import CidCacheCore
import CidCacheEngine
import CidCacheUpstreams
import Foundation

/// The loop a shell's own exports make: `OPENAI_BASE_URL` pointed at the
/// front for the clients is also the openai namespace's upstream, so a daemon
/// started from that shell would call its own front for every miss.
enum SelfCallCheck {
    /// EINVAL naming the first namespace whose upstream is the front at
    /// `address` (any loopback spelling, the same port), where its URL came
    /// from and how to start the daemon without it.
    static func check(_ namespaces: [Namespace], address: ListenAddress) throws(CacheError) {
        guard let namespace = namespaces.first(where: { isFront($0.endpoint.baseURL, address: address) }) else { return }
        let name = namespace.name, source = namespace.urlSource
        let remedy = source.hasPrefix("namespaces.")
            ? "set \(source) to the real upstream"
            : source.hasPrefix("the built-in")
            ? "set \(NamespaceResolver.variablePrefix(name))_URL or namespaces.\(name).url in a config file, or listen on another port"
            : "\(source) is for the clients: start the daemon without it (env -u \(source) cidcache ...), "
                + "and give the namespace its upstream in a config file (namespaces.\(name).url)"
        throw CacheError(.invalidRequest, "namespace \(name) would call this daemon's own HTTP front: its upstream "
                         + "\(namespace.endpoint.baseURL) (from \(source)) is \(address); \(remedy)")
    }

    /// Whether an http(s) URL's host is a loopback spelling (or the any-address) and its port the front's.
    static func isFront(_ url: String, address: ListenAddress) -> Bool {
        guard let separator = url.range(of: "://") else { return false }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return false }
        let rest = url[separator.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }.split(separator: "@").last ?? ""
        let host = RequestGuard.hostName(of: authority)
        let portText = authority.dropFirst(authority.hasPrefix("[") ? host.count + 2 : host.count)
        let port = portText.hasPrefix(":") ? Int(portText.dropFirst()) : (scheme == "https" ? 443 : 80)
        let anyAddress = host == "0.0.0.0" || host == "::"
        return port == address.port && (anyAddress || ListenAddress.isLoopback(host))
    }
}
