import Glibc

/// A failure the cache reports to its caller, each mapped to the errno a file
/// user sees (docs/REFERENCE.md §5) and, where an upstream answered, its HTTP status.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// The failure classes of docs/REFERENCE.md §5, one per errno.
    public enum Kind: String, Sendable {
        case invalidRequest = "EINVAL"
        case tooLarge = "EFBIG"
        case accessDenied = "EACCES"
        case notFound = "ENOENT"
        case busy = "EBUSY"
        case timedOut = "ETIMEDOUT"
        case offline = "ENETUNREACH"
        case io = "EIO"
        case noSpace = "ENOSPC"
    }

    public var kind: Kind
    /// What went wrong, for the `errors` file: never holds a credential.
    public var message: String
    /// The upstream's HTTP status, when one answered.
    public var status: Int?
    /// The error answer itself, when an upstream answered one: what a front
    /// that speaks HTTP hands back as it was sent. Never written to a file.
    public var upstreamAnswer: UpstreamErrorAnswer?

    public init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    /// `error` itself when it is a `CacheError`, else EIO saying what it was.
    public init(wrapping error: any Error) {
        if let failure = error as? CacheError {
            self = failure
        } else {
            self.init(.io, "unexpected failure: \(error)")
        }
    }

    /// The errno value handed to the kernel.
    public var errno: Int32 {
        switch kind {
        case .invalidRequest: return EINVAL
        case .tooLarge: return EFBIG
        case .accessDenied: return EACCES
        case .notFound: return ENOENT
        case .busy: return EBUSY
        case .timedOut: return ETIMEDOUT
        case .offline: return ENETUNREACH
        case .io: return EIO
        case .noSpace: return ENOSPC
        }
    }

    /// The errno's symbolic name, as the `errors` file writes it.
    public var errnoName: String { kind.rawValue }

    public var description: String { "\(kind.rawValue): \(message)" }

    /// Maps an upstream HTTP error status to the failure class docs/REFERENCE.md §5.1 gives it.
    public static func forStatus(_ status: Int, _ message: String) -> CacheError {
        let kind: Kind
        switch status {
        case 400, 422: kind = .invalidRequest
        case 401, 403: kind = .accessDenied
        case 404: kind = .notFound
        case 408, 504: kind = .timedOut
        case 413: kind = .tooLarge
        case 429, 503, 529: kind = .busy
        default: kind = .io
        }
        return CacheError(kind, message, status: status)
    }
}

/// An upstream's error answer as it was sent (at most `limit` bytes of its body).
public struct UpstreamErrorAnswer: Sendable {
    /// The most of an error body kept.
    public static let limit = 64 * 1024
    public var body: [UInt8]
    /// Its headers (an SDK may read the error's kind from one, as the HF Hub's `X-Error-Code`).
    public var headers: [(name: String, value: String)]

    public init(body: some Collection<UInt8>, headers: [(name: String, value: String)]) {
        self.body = Array(body.prefix(Self.limit))
        self.headers = headers
    }
}
