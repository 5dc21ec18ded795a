import CidCacheCore
import Foundation

/// What a request does when the upstream redirects it to another origin
/// (scheme, host or port differs, https to http included). Redirects within
/// the origin are followed as they are.
public enum CrossOriginRedirects: Sendable {
    /// Followed with no credential: only the headers of `UpstreamRedirect.keptAcrossOrigins` go along
    /// (what the SDKs' HTTP clients do: httpx, requests, Go's net/http).
    case followWithoutCredentials
    /// Refused with EIO (boto3 follows none; a SigV4 signature is bound to its host).
    case refuse
}

/// The next hop of a redirected upstream call, decided without I/O.
enum UpstreamRedirect {
    static let statuses: Set<Int> = [301, 302, 303, 307, 308]
    /// Hops followed at most, as AsyncHTTPClient's default did.
    static let maximumHops = 5

    /// The only headers sent to another origin: none of them can carry a credential.
    static let keptAcrossOrigins: Set<String> = [
        "accept", "accept-encoding", "content-type", "user-agent", "anthropic-version", "x-github-api-version",
    ]

    /// The request to send after `status` with `location`, or the failure that ends the call.
    static func next(after request: UpstreamHTTPRequest, status: Int, location: String) throws -> UpstreamHTTPRequest {
        // A local socket is reachable only from a local socket: a remote upstream never sends the daemon to one.
        let schemes: Set<String> = request.url.hasPrefix("http+unix:") ? ["http+unix"] : ["http", "https"]
        guard let base = URL(string: request.url), let target = URL(string: location, relativeTo: base)?.absoluteURL,
              let scheme = target.scheme?.lowercased(), schemes.contains(scheme) else {
            throw CacheError(.io, "upstream redirected (\(status)) to an unusable location", status: status)
        }
        var next = request
        next.url = target.absoluteString
        // As browsers and httpx: 303 asks for a GET, and so do 301 and 302 after a POST.
        if (status == 303 && request.method != "HEAD") || ([301, 302].contains(status) && request.method == "POST") {
            next.method = "GET"
            next.body = nil
            next.headers.removeAll { ["content-type", "content-length"].contains($0.name.lowercased()) }
        }
        if origin(of: target) != URL(string: request.url).flatMap(origin(of:)) {
            let destination = origin(of: target) ?? target.absoluteString
            switch request.crossOriginRedirects {
            case .refuse:
                throw CacheError(.io, "upstream redirected (\(status)) to \(destination), another origin: not followed", status: status)
            case .followWithoutCredentials:
                next.headers.removeAll { !keptAcrossOrigins.contains($0.name.lowercased()) }
            }
        }
        return next
    }

    /// `scheme://host:port`, lower-cased, with the scheme's default port written out.
    static func origin(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased() else { return nil }
        let host = (url.host ?? "").lowercased()
        let port = url.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : 0)
        return "\(scheme)://\(host):\(port)"
    }
}
