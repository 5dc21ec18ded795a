public import CidCacheCore

/// Where the shared tier keeps its objects in the bucket, under a configurable prefix:
/// bodies at `<prefix>/v1/blob/<content CID>` (immutable; a credential-scoped,
/// sealed body at `<prefix>/v1/blob/<scope>/<content CID>`, so scopes never
/// share an object), records at `<prefix>/v1/idx/<scope>/<request CID>` (the
/// commit point, written last).
public struct SharedLayout: Sendable, Equatable {
    /// The prefix without leading or trailing slashes; empty puts `v1/` at the bucket's root.
    public let prefix: String

    /// A layout under `prefix`; slashes at either end are dropped.
    public init(prefix: String) {
        let trimmed = prefix.drop { $0 == "/" }
        self.prefix = String(trimmed.reversed().drop { $0 == "/" }.reversed())
    }

    /// The object key of the body whose content CID is `content`, as `scope` keeps it.
    public func blobKey(_ content: CID, scope: SharedScope) -> String {
        root + "blob/" + (scope.isScoped ? scope.name + "/" : "") + content.string
    }

    /// The object key of the record for `request` in `scope`.
    public func recordKey(scope: SharedScope, request: CID, sample: Int = 0) -> String {
        root + "idx/" + scope.name + "/" + request.string + (sample > 0 ? ".\(sample)" : "")
    }

    private var root: String { prefix.isEmpty ? "v1/" : prefix + "/v1/" }
}
