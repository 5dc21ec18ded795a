import CidCacheCore

/// A Kubo node's RPC API (`POST {base}/api/v0/...`, default
/// `http://127.0.0.1:5001`, no key; one configured is sent as a bearer token,
/// as Kubo's `API.Authorizations` expects). The object asked about goes in
/// `arg`; every other member of the request is sent as a query parameter of the
/// same name (Kubo's options: `num-providers`, `type`, `with-local`, ...).
///
/// - `stat`: `files/stat` of `/ipfs/{cid}` (or of `path`, an MFS or
///   `/ipfs/`, `/ipns/` path): `Hash`, `Size`, `CumulativeSize`, `Blocks`,
///   `Type` of the whole DAG, which `block/stat` (one block's `Key` and
///   `Size`) cannot tell; `"block": true` asks `block/stat` of `cid` instead.
/// - `dht.findprovs`: `routing/findprovs?arg={cid}`, the successor of the
///   deprecated `dht/findprovs`; Kubo streams NDJSON routing events, stored
///   as sent once the stream ended on a whole line without failing (an
///   `X-Stream-Error` trailer or an error line, as go-ipfs-cmds ends a
///   command that failed part-way, make the answer EIO).
/// - `pin.ls`: `pin/ls`, of every pin or of `cid`/`path`.
///
/// Kubo's error answers carry `{"Message", "Code", "Type"}`, mostly with status
/// 500, some plain text (a 404, a 400 before the command ran: its first line is
/// the message); a message saying the thing is not there ("not pinned", "not
/// found", "does not exist") means ENOENT, a client error (400, Code 1, or a
/// message about an invalid path or CID) EINVAL.
struct IPFSFamily: UpstreamFamily {
    public let name = "ipfs"
    public var isCredentialScoped: Bool { true }
    public var catalog: [UpstreamOperation] { Self.listed }
    /// Kubo's RPC address; CIDCACHE_IPFS_URL points it elsewhere.
    public var builtInNamespaces: [BuiltInNamespace] { [BuiltInNamespace("ipfs", url: "http://127.0.0.1:5001")] }
    static let listed = [
        operation("stat", ttl: 3600, pathFields: ["cid", "path", "block"]) { request in
            let (cid, path) = try target(request, op: "stat")
            let block: Bool
            switch request["block"] {
            case nil, .null?: block = false
            case .bool(let flag)?: block = flag
            default: throw CacheError(.invalidRequest, "\"block\" must be true or false")
            }
            if block {
                guard let cid else { throw CacheError(.invalidRequest, "stat with \"block\" requires the field \"cid\"") }
                return ("block/stat", cid)
            }
            if let cid { return ("files/stat", "/ipfs/" + cid) }
            guard let path else { throw CacheError(.invalidRequest, "stat requires the field \"cid\" or \"path\"") }
            return ("files/stat", path)
        },
        operation("dht.findprovs", ttl: 600, streams: .always) { request in
            guard try target(request, op: "dht.findprovs").path == nil else {
                throw CacheError(.invalidRequest, "dht.findprovs takes a \"cid\", not a path")
            }
            return ("routing/findprovs", try RequestFields.string(request, "cid", op: "dht.findprovs"))
        },
        operation("pin.ls", ttl: 300, streams: .whenAsked) { request in
            let (cid, path) = try target(request, op: "pin.ls")
            return ("pin/ls", cid ?? path)
        },
    ]

    public init() {}

    /// A `POST {base}/api/v0/{command}?arg=...`, the other members as query
    /// parameters; a streamed answer is NDJSON, complete once it ended on a whole line.
    static func operation(_ name: String, ttl: Int, pathFields: Set<String> = ["cid", "path"], streams: StreamRule? = nil,
                          command: @escaping @Sendable (JSONObject) throws -> (command: String, arg: String?)) -> UpstreamOperation {
        var operation = RESTCall.operation(name, ttl: ttl, pathFields: pathFields, method: "POST",
                                           headers: { WireFormat.bearer($0.credential) }) { request in
            let (command, arg) = try command(request)
            return RESTCall.Route(path: "/api/v0/" + command, leadingQuery: arg.map { [(name: "arg", value: $0)] } ?? [])
        }
        if let streams {
            operation.framing = .ndjson(until: .newlineAfterValue, when: streams)
            operation.streamFailure = .goIPFSCmds
        }
        operation.mapError = Self.error
        return operation
    }

    /// The object asked about: `cid` or `path`, not both.
    static func target(_ request: JSONObject, op: String) throws -> (cid: String?, path: String?) {
        let cid = try RequestFields.optionalString(request, "cid")
        let path = try RequestFields.optionalString(request, "path")
        if cid != nil && path != nil { throw CacheError(.invalidRequest, "\(op) takes \"cid\" or \"path\", not both") }
        return (cid, path)
    }

    static func error(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        let answer = WireFormat.json(body)?.objectValue
        let message = answer?["Message"]?.stringValue ?? WireFormat.errorMessage(body)
        let text = "upstream answered \(status): \(message)"
        let lowered = message.lowercased()
        if ["not pinned", "not found", "does not exist", "no link named"].contains(where: { lowered.contains($0) }) {
            return CacheError(.notFound, text, status: status)
        }
        if ["invalid path", "invalid cid", "is required"].contains(where: { lowered.contains($0) }) {
            return CacheError(.invalidRequest, text, status: status)
        }
        switch answer?["Code"]?.intValue {
        case 1?: return CacheError(.invalidRequest, text, status: status)  // ErrClient
        case 3?: return CacheError(.busy, text, status: status)            // ErrRateLimited
        case 4?: return CacheError(.accessDenied, text, status: status)    // ErrForbidden
        default: return CacheError.forStatus(status, text)
        }
    }
}
