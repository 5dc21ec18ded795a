import CidCacheCore

/// The HTTP status of a failure: the upstream's when one answered, else the
/// one its errno (docs/REFERENCE.md §5) stands for.
enum FailureStatus {
    static func of(_ error: CacheError) -> Int {
        error.status ?? forKind(error.kind)
    }

    /// A failure no upstream answered, by its errno.
    static func forKind(_ kind: CacheError.Kind) -> Int {
        switch kind {
        case .invalidRequest: return 400
        case .tooLarge: return 413
        case .accessDenied: return 401
        case .notFound: return 404
        case .busy: return 503
        case .timedOut: return 504
        case .offline: return 503
        case .io: return 502
        case .noSpace: return 507
        }
    }
}
