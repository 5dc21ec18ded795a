import CidCacheCore

/// Ollama's native API: `POST {base}/api/chat`, `/api/generate`, `/api/embed`.
/// Chat and generate stream NDJSON unless the request says `"stream": false`;
/// the last line of a complete answer has `"done": true`. No key is needed; one
/// configured is sent as a bearer token (for a proxy in front).
public struct OllamaFamily: UpstreamFamily {
    public init() {}

    public let name = "ollama"
    public let operations = ["chat", "generate", "embed"]

    public static let defaultPort = "11434"
    public static let defaultURL = "http://127.0.0.1:11434"

    private static let paths = ["chat": "/api/chat", "generate": "/api/generate", "embed": "/api/embed"]
    private static let requiredFields = [
        "chat": ["model", "messages"],
        "generate": ["model", "prompt"],
        "embed": ["model", "input"],
    ]

    /// Nothing: `keep_alive` cannot change the answer but steers the server,
    /// so it reaches the upstream and stays in the key.
    public func droppedFields(op: String) -> Set<String> { [] }

    public func validate(op: String, request: JSONObject) throws {
        try WireFormat.require(Self.requiredFields[op] ?? ["model"], in: request, op: op)
        try WireFormat.requireModel(request, op: op)
    }

    public func defaultTTL(op: String, request: JSONObject) -> Int {
        op == "embed" ? 86_400 : TemperatureRule.ttl(request, path: ["options", "temperature"])
    }

    public func httpRequest(op: String, request: JSONObject, body: [UInt8], endpoint: Endpoint) throws -> UpstreamHTTPRequest {
        guard let path = Self.paths[op] else { throw CacheError(.notFound, "unknown operation \(op)") }
        let base = Endpoint(baseURL: effectiveBaseURL(endpoint.baseURL), credential: endpoint.credential)
        return UpstreamHTTPRequest(method: "POST", url: base.url(path),
                                   headers: [WireFormat.jsonContentType] + WireFormat.bearer(endpoint.credential),
                                   body: body)
    }

    /// `OLLAMA_HOST` as Ollama's own client reads it.
    public func effectiveBaseURL(_ configured: String) -> String {
        Self.normalizeHost(configured)
    }

    /// An `OLLAMA_HOST` value as a base URL. A value with a scheme is kept;
    /// otherwise `http://` is added, and the port 11434 when none is given:
    /// `0.0.0.0` is `http://0.0.0.0:11434`, `example.com:8080/ollama` is
    /// `http://example.com:8080/ollama`, `::1` is `http://[::1]:11434`. Empty
    /// is the default, `http://127.0.0.1:11434`.
    public static func normalizeHost(_ value: String) -> String {
        var text = Substring(value)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        if text.isEmpty { return defaultURL }
        if text.contains("://") { return String(text) }

        let slash = text.firstIndex(of: "/") ?? text.endIndex
        let hostPort = text[..<slash]
        var path = String(text[slash...])
        while path.hasSuffix("/") { path.removeLast() }

        var host = Substring(""), port = Substring("")
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = hostPort[...close]
            let rest = hostPort[hostPort.index(after: close)...]
            if rest.hasPrefix(":") { port = rest.dropFirst() }
        } else if hostPort.filter({ $0 == ":" }).count > 1 {
            host = "[\(hostPort)]"
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            port = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        if host.isEmpty { host = "127.0.0.1" }
        if port.isEmpty || Int(port).map({ !(0...65_535).contains($0) }) ?? true {
            port = Substring(defaultPort)
        }
        return "http://\(host):\(port)\(path)"
    }

    /// `prompt_eval_count` in, `eval_count` out, from the answer or, streamed,
    /// from its last line (the one with `"done": true`).
    public func usage(op: String, request: JSONObject, response: [UInt8]) -> TokenUsage? {
        guard let last = WireFormat.json(response)?.objectValue ?? NDJSON.lastObject(response),
              last["prompt_eval_count"] != nil || last["eval_count"] != nil else { return nil }
        return TokenUsage(model: request["model"]?.stringValue,
                          inputTokens: last["prompt_eval_count"]?.intValue ?? 0,
                          outputTokens: last["eval_count"]?.intValue ?? 0)
    }

    /// Chat and generate stream unless `"stream": false` (absent or null streams).
    public func streams(op: String, request: JSONObject) -> Bool {
        op != "embed" && request["stream"]?.boolValue != false
    }

    /// Complete when the last line is a JSON object with `"done": true`.
    public func isCompleteStream(op: String, body: [UInt8]) -> Bool {
        if op == "embed" { return true }
        return NDJSON.lastObject(body)?["done"]?.boolValue == true
    }
}
