public import CidCacheCore
import CidCacheEngine
import Glibc
import NIOCore
import Synchronization

/// The caller keys the front knows, read from `http.keys_file` and read
/// again when the file changes (looked at once a second at most), so
/// `cidcache key new` and `key remove` take effect without a restart.
public final class CallerKeys: Sendable {
    /// Where the keys are; nil: none (every credential is the caller's own).
    let path: String?
    /// Whether a request without a known key is refused (`http.require_key`).
    public let required: Bool
    private let state: Mutex<State>

    private struct State {
        var names: [String: String] = [:]  // key digest → caller name
        var modified: timespec?
        var lastLook: NIODeadline?
    }

    /// Reads the file at `path` now; EINVAL or EIO naming it when it cannot be used.
    public init(path: String?, required: Bool) throws(CacheError) {
        self.path = path
        self.required = required
        var state = State()
        if let path {
            state.modified = Self.modification(path)
            state.names = try Self.names(path)
        }
        self.state = Mutex(state)
    }

    /// The name of the caller whose key `credential` is; nil when it is none of them.
    public func caller(presenting credential: String) -> String? {
        guard let path, credential.hasPrefix(CallerKeyFile.keyPrefix) else { return nil }
        let digest = CallerKeyFile.digest(of: credential)
        let now = NIODeadline.now()
        return state.withLock { state in
            if state.lastLook.map({ now - $0 >= .seconds(1) }) ?? true {
                state.lastLook = now
                let modified = Self.modification(path)
                if modified?.tv_sec != state.modified?.tv_sec || modified?.tv_nsec != state.modified?.tv_nsec {
                    state.modified = modified
                    // A file broken while the daemon runs keeps the keys it had; the next change is read again.
                    if let names = try? Self.names(path) { state.names = names }
                }
            }
            return state.names[digest]
        }
    }

    /// Who a request's credential (in a header its namespace's family takes
    /// one in) makes the caller: one of the caller keys, whose header is then
    /// removed from `headers` (the configured credential goes upstream
    /// instead), or the caller's own credential, or none.
    func identify(_ headers: inout [(name: String, value: String)], in namespace: Namespace) -> CallerIdentity {
        guard let presented = namespace.callerCredential(in: headers) else { return CallerIdentity() }
        guard let name = caller(presenting: presented) else { return CallerIdentity(ownCredential: presented) }
        headers = namespace.removingCallerCredential(from: headers)
        return CallerIdentity(name: name, presentedCredential: true)
    }

    /// The 401 of a request without a known caller key, when one is required (`http.require_key`); nil: it may go on.
    func refusal(of caller: CallerIdentity) -> CacheError? {
        guard required, caller.name == nil else { return nil }
        return CacheError(.accessDenied, "this front answers callers with a key only (http.require_key): "
                          + (caller.presentedCredential ? "the request's credential is not one" : "the request has none")
                          + "; `cidcache key new NAME` makes one, which the SDK sends as its API key")
    }

    private static func names(_ path: String) throws(CacheError) -> [String: String] {
        Dictionary(try CallerKeyFile.load(path).entries.map { ($0.digest, $0.name) }) { first, _ in first }
    }

    private static func modification(_ path: String) -> timespec? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mtim : nil
    }
}

/// Who sent a request, as its credential says.
struct CallerIdentity: Sendable, Equatable {
    /// The caller's name, when the credential was one of the caller keys.
    var name: String?
    /// The credential, when it was the caller's own (used upstream instead of the configured one).
    var ownCredential: String?
    /// Whether the request carried a credential at all.
    var presentedCredential: Bool

    init(name: String? = nil, ownCredential: String? = nil, presentedCredential: Bool = false) {
        self.name = name
        self.ownCredential = ownCredential
        self.presentedCredential = presentedCredential || ownCredential != nil
    }
}
