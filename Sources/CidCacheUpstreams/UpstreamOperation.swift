public import CidCacheCore

/// One operation of a family (`chat.completions`, `list_objects`, ...): how a
/// request to it is normalized, checked and kept, how its answer is fetched,
/// framed and accounted. The engine resolves it once per query.
public struct UpstreamOperation: Sendable {
    /// The name a path uses (`/mnt/openai/chat.completions/...`).
    public let name: String
    /// Top-level request members that cannot change the answer, dropped before keying.
    public var droppedFields: Set<String> = []
    /// Members that stay in the key but leave the upstream body (they go into the URL path).
    public var pathOnlyFields: Set<String> = []
    /// Refuses requests missing what the operation requires (EINVAL).
    public var validate: @Sendable (JSONObject) throws -> Void = { _ in }
    /// What the key needs beyond the request as written (`exec`'s argv and input
    /// CIDs); run after `validate`, its result is keyed and handed to the transport.
    public var enrich: (@Sendable (JSONObject) throws -> JSONObject)?
    /// How long an answer lives by default (docs/REFERENCE.md §8).
    public var ttl: TTLRule
    /// How the answer is framed, and when it streams.
    public var framing: Framing = .whole
    /// The `Content-Type` of a streamed answer: the framing's media type unless set.
    public var streamContentType: String? {
        get { ownStreamContentType ?? framing.mediaType }
        set { ownStreamContentType = newValue }
    }
    private var ownStreamContentType: String?
    /// Where it lives under the base URL: its calls are built from these
    /// routes and the HTTP front matches them. Empty: its calls are built
    /// otherwise (S3's signing, exec's commands), and the front passes the
    /// upstream's paths through.
    public var routes: [OperationRoute] = []
    /// How the upstream says an answer under way failed (Kubo's error trailer); nil: it cannot.
    public var streamFailure: StreamFailureSignal?
    /// The tokens and model an answer reports, when it reports any.
    public var usage: UsageReader?
    /// How the answer is obtained.
    public var transport: Transport
    /// The failure of an error answer when the status alone says too little
    /// (GitHub's rate-limit 403s); nil keeps the status's (docs/REFERENCE.md §5.1).
    public var mapError: ErrorMapper?

    /// An operation that drops nothing, accepts any request object and answers whole;
    /// the rest is set on the value.
    public init(_ name: String, ttl: TTLRule, transport: Transport) {
        self.name = name
        self.ttl = ttl
        self.transport = transport
    }

    /// The default TTL of an answer to `request`, in seconds.
    public func defaultTTL(_ request: JSONObject) -> Int { ttl.seconds(for: request) }

    /// Whether an answer to `request` is one sample among many the upstream could give: the
    /// temperature rule's non-zero case (docs/REFERENCE.md §8.1). Only these keep sample buckets.
    public func isSampled(_ request: JSONObject) -> Bool { ttl.isSampled(request) }

    /// Whether the upstream will stream its answer to `request`, so it is stored only when complete.
    public func streams(_ request: JSONObject) -> Bool { framing.streams(request) }

    /// Whether the answer comes from a call (false: computed here, as S3's
    /// presigned URLs are), so its hits save no call and no latency.
    public var callsUpstream: Bool {
        if case .local = transport { return false }
        return true
    }

    /// The failure an error answer means: `mapError`'s, else the status's.
    public func failure(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> CacheError {
        RESTCall.failure(status: status, headers: headers, body: body, mapping: mapError)
    }

    /// A reader for one answer, fed as it arrives.
    public func answerReader() -> AnswerReader { AnswerReader(framing: framing, usage: usage, failure: streamFailure) }
}

/// What an operation's transport gets: the normalized request, the caller's
/// bytes minus the dropped and path-only members, and the namespace's endpoint.
public struct OperationCall: Sendable {
    /// The request as keyed (normalized, validated, enriched).
    public var request: JSONObject
    /// What an HTTP call sends as its body.
    public var body: [UInt8]
    public var endpoint: Endpoint
    public init(request: JSONObject, body: [UInt8], endpoint: Endpoint) {
        self.request = request
        self.body = body
        self.endpoint = endpoint
    }
}

/// How an operation's answer is obtained. The engine runs every transport
/// within the namespace's limits.
public enum Transport: Sendable {
    /// One HTTP call whose 2xx body is the answer, passed on as it arrives.
    case http(@Sendable (OperationCall) throws -> UpstreamHTTPRequest)
    /// The family fetches the answer itself (pages joined, an XML listing as
    /// JSON, a token handshake, a command's output) and returns it whole.
    /// `retriesFailures`: whether a failure that looks transient (no answer,
    /// a 429/5xx) is worth repeating.
    case fetch(@Sendable (OperationCall, UpstreamClient) async throws -> [UInt8], retriesFailures: Bool)
    /// One HTTP call (`first`) whose whole answer the family reads and may
    /// follow with more (pages joined, analyses filtered); failures that look
    /// transient are repeated.
    case paged(first: @Sendable (OperationCall) throws -> UpstreamHTTPRequest,
               read: @Sendable (UpstreamHTTPRequest, OperationCall, UpstreamClient) async throws -> [UInt8])
    /// Computed here without a call (S3's presigned URLs).
    case local(@Sendable (OperationCall) throws -> [UInt8])
}

/// The failure an error answer (status, headers, body) means, or nil for the status's default.
public typealias ErrorMapper = @Sendable (_ status: Int, _ headers: [(name: String, value: String)], _ body: [UInt8]) -> CacheError?

/// An operation's default TTL (docs/REFERENCE.md §8).
public enum TTLRule: Sendable {
    case fixed(Int)
    /// The temperature rule at a path of the request: temperature 0 lives an
    /// hour, anything else (absent, null, not a number) half an hour.
    case temperature(at: [String])
    /// Computed from the request (S3's presign follows `expires_in`).
    case computed(@Sendable (JSONObject) -> Int)

    /// Temperature 0: an hour.
    public static let deterministicTTL = 3600
    /// Any other temperature, or none: half an hour.
    public static let sampledTTL = 1800

    /// The TTL of an answer to `request`, in seconds.
    public func seconds(for request: JSONObject) -> Int {
        switch self {
        case .fixed(let seconds): return seconds
        case .computed(let rule): return rule(request)
        case .temperature: return isSampled(request) ? Self.sampledTTL : Self.deterministicTTL
        }
    }

    /// Whether the temperature rule applies and the request's temperature is anything but the number 0.
    public func isSampled(_ request: JSONObject) -> Bool {
        guard case .temperature(let path) = self else { return false }
        var value: JSON? = .object(request)
        for key in path { value = value?.objectValue?[key] }
        return value?.doubleValue != 0
    }
}

/// How an answer is framed: one whole body, or a stream that is complete
/// only once its terminal event arrived (an answer cut short before it is
/// never stored or served as a hit).
public enum Framing: Sendable {
    case whole
    /// `text/event-stream`; a whole JSON answer (no events) is complete too.
    case serverSentEvents(until: SSETerminal, when: StreamRule)
    /// Newline-delimited JSON.
    case ndjson(until: NDJSONTerminal, when: StreamRule)

    /// Whether the upstream will stream its answer to `request`.
    public func streams(_ request: JSONObject) -> Bool {
        switch self {
        case .whole: return false
        case .serverSentEvents(_, let rule), .ndjson(_, let rule): return rule.streams(request)
        }
    }

    /// The media type of a stream so framed; nil for a whole answer.
    public var mediaType: String? {
        switch self {
        case .whole: return nil
        case .serverSentEvents: return "text/event-stream"
        case .ndjson: return "application/x-ndjson"
        }
    }
}

/// When a streaming operation streams.
public enum StreamRule: Sendable {
    case always
    /// On `"stream": true` (OpenAI, Anthropic).
    case whenAsked
    /// Unless `"stream": false` (Ollama, OPEA: absent or null streams).
    case unlessDeclined

    /// Whether a request to an operation with this rule streams.
    public func streams(_ request: JSONObject) -> Bool {
        switch self {
        case .always: return true
        case .whenAsked: return request["stream"]?.boolValue == true
        case .unlessDeclined: return request["stream"]?.boolValue != false
        }
    }
}

/// The last event of a complete event stream.
public enum SSETerminal: Sendable {
    /// `data: [DONE]` (OpenAI and the servers that speak its API).
    case done
    /// An event whose JSON `type` is this (Anthropic's `message_stop`).
    case eventType(String)
    /// An event whose JSON object says so (Gemini's chunk with a `finishReason`).
    case lastEvent(@Sendable (JSONObject) -> Bool)
}

/// What ends a complete NDJSON stream.
public enum NDJSONTerminal: Sendable {
    /// The last line is an object with `"done": true` (Ollama).
    case doneMember
    /// A newline after a whole JSON object, or no line at all (Kubo).
    case newlineAfterValue
}
