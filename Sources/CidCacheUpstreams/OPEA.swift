import CidCacheCore

/// An OPEA (Open Platform for Enterprise AI) megaservice: the operation name
/// is the route, `POST {base}/v1/{op}`. Any name matching
/// `^[a-z][a-z0-9_-]{0,63}$` is accepted; `operations` lists the GenAIExamples
/// routes. Chat-style megaservices (ChatQnA and others) stream server-sent
/// events ending with `data: [DONE]` unless the request says `"stream": false`.
/// No key is needed; one configured is sent as a bearer token.
struct OPEAFamily: UpstreamFamily {
    public let name = "opea"
    public let catalog: [UpstreamOperation]
    public var builtInNamespaces: [BuiltInNamespace] { [BuiltInNamespace("opea", url: "http://127.0.0.1:8888")] }
    /// The route is the operation (any name the family accepts).
    public var frontRoutes: [FrontRoute] { [FrontRoute(.body("/v1/{op}"), .parameter("op"))] }

    public init() {
        catalog = ["chatqna", "codegen", "codetrans", "docsum", "faqgen", "searchqna", "translation",
                   "audioqna", "visualqna", "videoqna", "multimodalqna"].map(Self.route)
    }

    /// Any route name: a lower-case letter, then up to 63 of `a-z 0-9 _ -`.
    public func operation(named name: String) -> UpstreamOperation? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (1...64).contains(bytes.count),
              (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return nil }
        let valid = bytes.dropFirst().allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
        return valid ? catalog.first { $0.name == name } ?? Self.route(name) : nil
    }

    /// `POST {base}/v1/{route}`. Requests differ by route: any JSON object is
    /// passed on, nothing dropped. Streams unless `"stream": false` (ChatQnA's
    /// default is to stream); a route that answers with plain JSON instead
    /// counts as complete. OpenAI-style `usage`, when the megaservice reports one.
    static func route(_ name: String) -> UpstreamOperation {
        var operation = UpstreamOperation.posting(name, to: [.body("/v1/" + name)], ttl: .fixed(1800))
        operation.framing = .serverSentEvents(until: .done, when: .unlessDeclined)
        operation.usage = .openAI
        return operation
    }
}
