public import CidCacheCore

/// Reads one answer as its chunks arrive, so that when the body ends its
/// completeness and its usage are known without scanning it again: events
/// and lines are framed once, each event's usage folded in as it comes.
/// Completeness is judged by the framing whether or not the request asked for
/// a stream: an upstream may stream unasked.
public struct AnswerReader {
    private let framing: Framing
    private let usageReader: UsageReader?
    private let failureSignal: StreamFailureSignal?
    private var events = ServerSentEventScanner()
    private var lines = NDJSONScanner()
    private var lastEvent: ServerSentEventScanner.Event?
    private var usage: TokenUsage?

    /// A reader for an answer framed as `framing`, its usage read by `usage`
    /// (nil: none), its failures on the way told as `failure` says (nil: never).
    public init(framing: Framing, usage: UsageReader?, failure: StreamFailureSignal? = nil) {
        self.framing = framing
        self.usageReader = usage
        failureSignal = failure
        lines.errorLine = failure?.errorLine
    }

    /// Reads the next chunk of the body.
    public mutating func consume(_ chunk: some BidirectionalCollection<UInt8>) {
        switch framing {
        case .whole: break
        case .ndjson: lines.consume(chunk)
        case .serverSentEvents:
            for event in events.consume(chunk) { read(event) }
        }
    }

    private mutating func read(_ event: ServerSentEventScanner.Event) {
        lastEvent = event
        if let usageReader, let object = event.json?.objectValue { usage = usageReader.event(usage, object) }
    }

    /// What the whole answer came to, once its last chunk was read. `body` is
    /// the whole body, parsed at most once and only where framing cannot tell:
    /// an answer not framed as a stream (no event), or a last line that is no
    /// object. `trailers` are those that followed the body.
    public mutating func finish(body: [UInt8], request: JSONObject,
                                trailers: [(name: String, value: String)] = []) -> AnswerSummary {
        let summary = judge(body: body, request: request)
        // After judging: the last line, when no newline ended it, is read there.
        if let failure = failureSignal?.failure(in: trailers) ?? lines.failure {
            return AnswerSummary(isComplete: false, usage: nil, failure: failure)
        }
        return summary
    }

    private mutating func judge(body: [UInt8], request: JSONObject) -> AnswerSummary {
        var complete = true
        switch framing {
        case .whole:
            usage = usageReader.flatMap { reader in WireFormat.json(body)?.objectValue.flatMap(reader.answer) }
        case .serverSentEvents(let terminal, _):
            if let trailing = events.undispatched { read(trailing) }
            guard let last = lastEvent else {
                // No event at all: a whole JSON answer (not streamed), or nothing usable.
                let whole = WireFormat.json(body)
                usage = usageReader.flatMap { reader in whole?.objectValue.flatMap(reader.answer) }
                return AnswerSummary(isComplete: whole != nil, usage: usage.map { named($0, request) })
            }
            switch terminal {
            case .done: complete = !events.endsMidLine && last.data == "[DONE]"
            case .eventType(let type): complete = !events.endsMidLine && last.json?["type"]?.stringValue == type
            case .lastEvent(let isLast): complete = !events.endsMidLine && (last.json?.objectValue.map(isLast) ?? false)
            }
        case .ndjson(let terminal, _):
            let last = lines.lastObject()
            // A last line that is no object may end a whole JSON answer written over several lines.
            let lastOrWhole = last ?? WireFormat.json(body)?.objectValue
            switch terminal {
            case .doneMember: complete = lastOrWhole?["done"]?.boolValue == true
            case .newlineAfterValue:
                // A whole JSON answer (not streamed) need not end with a newline.
                complete = !lines.sawValue || (lines.lastByte == 0x0A && last != nil) || WireFormat.json(body) != nil
            }
            usage = usageReader.flatMap { reader in lastOrWhole.flatMap(reader.answer) }
        }
        return AnswerSummary(isComplete: complete, usage: usage.map { named($0, request) })
    }

    private func named(_ usage: TokenUsage, _ request: JSONObject) -> TokenUsage {
        var usage = usage
        usage.model = usageReader?.model(request)
        return usage
    }

    /// Reads a whole body at once.
    public static func read(_ body: [UInt8], of operation: UpstreamOperation, request: JSONObject) -> AnswerSummary {
        var reader = operation.answerReader()
        reader.consume(body)
        return reader.finish(body: body, request: request)
    }
}

/// What a whole answer came to.
public struct AnswerSummary: Sendable, Equatable {
    /// Whether a stream ended with its terminal event (a whole answer always is).
    public var isComplete: Bool
    /// The tokens and model it reports, when it reports any.
    public var usage: TokenUsage?
    /// What the upstream said went wrong on the way (an error trailer or line), if it did.
    public var failure: String?

    public init(isComplete: Bool, usage: TokenUsage?, failure: String? = nil) {
        self.isComplete = isComplete
        self.usage = usage
        self.failure = failure
    }
}

/// Where an operation's answers report their usage.
public struct UsageReader: Sendable {
    /// The usage one JSON answer reports (a whole answer, or an NDJSON stream's last line).
    public var answer: @Sendable (JSONObject) -> TokenUsage?
    /// Folds one event of a stream into the usage so far; by default the last
    /// event that reports any wins.
    public var event: @Sendable (TokenUsage?, JSONObject) -> TokenUsage?
    /// The model the usage is billed under, from the request.
    public var model: @Sendable (JSONObject) -> String? = { $0["model"]?.stringValue }

    /// A reader whose events fold as `event` says, by default as `answer` reads them.
    public init(answer: @escaping @Sendable (JSONObject) -> TokenUsage?,
                event: (@Sendable (TokenUsage?, JSONObject) -> TokenUsage?)? = nil) {
        self.answer = answer
        self.event = event ?? { answer($1) ?? $0 }
    }

    /// OpenAI's `usage`: `prompt_tokens` and `completion_tokens`; of a stream,
    /// the last `usage` a chunk carried (`stream_options.include_usage`).
    public static let openAI = UsageReader { answer in
        answer["usage"]?.objectValue.map { usage in
            TokenUsage(model: nil, inputTokens: usage["prompt_tokens"]?.intValue ?? 0,
                       outputTokens: usage["completion_tokens"]?.intValue ?? 0)
        }
    }
}
