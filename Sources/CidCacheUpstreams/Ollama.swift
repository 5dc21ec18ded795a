import CidCacheCore

/// Ollama's native API: `POST {base}/api/chat`, `/api/generate`, `/api/embed`.
/// Chat and generate stream NDJSON unless the request says `"stream": false`;
/// the last line of a complete answer has `"done": true`. No key is needed; one
/// configured is sent as a bearer token (for a proxy in front).
struct OllamaFamily: UpstreamFamily {
    public let name = "ollama"
    public var catalog: [UpstreamOperation] { Self.listed }
    /// OLLAMA_HOST may be a bare host[:port]; `effectiveBaseURL` completes it.
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("ollama", url: Self.defaultURL, urlVariables: ["OLLAMA_HOST"])]
    }
    static let listed = [
        operation("chat", input: "messages", ttl: .temperature(at: ["options", "temperature"]), streams: true),
        operation("generate", input: "prompt", ttl: .temperature(at: ["options", "temperature"]), streams: true),
        operation("embed", input: "input", ttl: .fixed(86_400), streams: false),
    ]

    public init() {}

    public static let defaultPort = "11434"
    public static let defaultURL = "http://127.0.0.1:11434"

    /// `POST {base}/api/{name}`. Nothing is dropped: `keep_alive` cannot change
    /// the answer but steers the server, so it reaches the upstream and stays
    /// in the key. Chat and generate stream unless `"stream": false` (absent
    /// or null streams), complete when the last line has `"done": true`.
    static func operation(_ name: String, input: String, ttl: TTLRule, streams: Bool) -> UpstreamOperation {
        var operation = UpstreamOperation.posting(name, to: [.body("/api/" + name)], ttl: ttl)
        operation.validate = { request in
            try RequestFields.require(["model", input], in: request, op: name)
            try RequestFields.model(request, op: name)
        }
        if streams { operation.framing = .ndjson(until: .doneMember, when: .unlessDeclined) }
        operation.usage = usage
        return operation
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
    static let usage = UsageReader { last in
        guard last["prompt_eval_count"] != nil || last["eval_count"] != nil else { return nil }
        return TokenUsage(model: nil, inputTokens: last["prompt_eval_count"]?.intValue ?? 0,
                          outputTokens: last["eval_count"]?.intValue ?? 0)
    }
}
