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
///   as sent once the stream ended on a whole line.
/// - `pin.ls`: `pin/ls`, of every pin or of `cid`/`path`.
///
/// Kubo's error answers carry `{"Message", "Code", "Type"}`, mostly with status
/// 500; a message saying the thing is not there ("not pinned", "not found",
/// "does not exist") means ENOENT, a client error (400, Code 1, or a message
/// about an invalid path or CID) EINVAL.
public struct IPFSFamily: UpstreamFamily, ErrorMappingFamily {
    public init() {}

    public let name = "ipfs"
    public let operations = ["stat", "dht.findprovs", "pin.ls"]
    public var isCredentialScoped: Bool { true }

    public func droppedFields(op: String) -> Set<String> { [] }

    static func pathFields(_ op: String) -> Set<String> {
        op == "stat" ? ["cid", "path", "block"] : ["cid", "path"]
    }

    public func validate(op: String, request: JSONObject) throws {
        _ = try Self.call(op: op, request: request)
        try RESTCall.validateQuery(request, except: Self.pathFields(op))
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        switch op {
        case "stat": return 3600
        case "dht.findprovs": return 600
        default: return 300
        }
    }

    /// The RPC command and its `arg`, if any.
    static func call(op: String, request: JSONObject) throws -> (command: String, arg: String?) {
        let cid = try RESTCall.optionalString(request, "cid")
        let path = try RESTCall.optionalString(request, "path")
        if cid != nil && path != nil { throw CacheError(.invalidRequest, "\(op) takes \"cid\" or \"path\", not both") }
        switch op {
        case "stat":
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
        case "dht.findprovs":
            guard path == nil else { throw CacheError(.invalidRequest, "dht.findprovs takes a \"cid\", not a path") }
            return ("routing/findprovs", try RESTCall.requiredString(request, "cid", op: op))
        case "pin.ls":
            return ("pin/ls", cid ?? path)
        default:
            throw CacheError(.notFound, "unknown operation \(op)")
        }
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        let (command, arg) = try Self.call(op: op, request: request)
        var query = arg.map { [(name: "arg", value: $0)] } ?? []
        query += try RESTCall.queryParameters(request, except: Self.pathFields(op))
        return UpstreamHTTPRequest(method: "POST", url: RESTCall.url(endpoint.url("/api/v0/" + command), query),
                                   headers: WireFormat.bearer(endpoint.credential), body: nil)
    }

    public func streams(op: String, request: JSONObject) -> Bool {
        op == "dht.findprovs" || (op == "pin.ls" && request["stream"]?.boolValue == true)
    }

    /// NDJSON that ends with a newline after a whole JSON value (or no event at all).
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return true }
        return body.last == 0x0A && NDJSON.lastObject(body) != nil
    }

    public func error(op: String, status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError? {
        guard let answer = WireFormat.json(body)?.objectValue, let message = answer["Message"]?.stringValue else { return nil }
        let text = "upstream answered \(status): \(message)"
        let lowered = message.lowercased()
        if ["not pinned", "not found", "does not exist", "no link named"].contains(where: { lowered.contains($0) }) {
            return CacheError(.notFound, text, status: status)
        }
        if ["invalid path", "invalid cid", "is required"].contains(where: { lowered.contains($0) }) {
            return CacheError(.invalidRequest, text, status: status)
        }
        switch answer["Code"]?.intValue {
        case 1?: return CacheError(.invalidRequest, text, status: status)  // ErrClient
        case 3?: return CacheError(.busy, text, status: status)            // ErrRateLimited
        case 4?: return CacheError(.accessDenied, text, status: status)    // ErrForbidden
        default: return CacheError.forStatus(status, text)
        }
    }
}
