/// RFC 8785 (JCS) canonical JSON: a strict parser that refuses every input JCS
/// cannot key without ambiguity (docs/REFERENCE.md §1.4), and the canonical serializer.
public enum CanonicalJSON {
    /// The nesting depth `parse` accepts unless told otherwise.
    public static let defaultMaxDepth = 512

    /// Parses `bytes` (RFC 8259 JSON, UTF-8) strictly.
    ///
    /// Refused with `CacheError(.invalidRequest, ...)`, the message naming the
    /// byte offset: empty input, a byte order mark, invalid UTF-8, lone
    /// surrogate escapes, unescaped control characters in strings, duplicate
    /// object keys (compared by exact code units), integer literals beyond
    /// ±2^53, numbers that overflow to infinity, `NaN` and `Infinity`, nesting
    /// deeper than `maxDepth`, and anything after the value but whitespace.
    ///
    /// Set `acceptCanonicalLargeIntegers` to re-read bytes `serialize` wrote,
    /// such as a stored key document: JCS writes integral doubles below 1e21
    /// in full (`1e20` as `100000000000000000000`), which the request rule
    /// refuses. Even then an integer literal beyond ±2^53 is accepted only when
    /// it is exactly how its double is written, so no two literals collide;
    /// `9007199254740993` stays refused.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth,
                             acceptCanonicalLargeIntegers: Bool = false) throws -> JSON {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth,
                                acceptCanonicalLargeIntegers: acceptCanonicalLargeIntegers)
        return try parser.parseDocument()
    }

    /// Parses `bytes` like `parse`, and keeps them with the byte ranges of the
    /// top-level members so members can be cut out of the caller's own bytes.
    public static func parseDocument(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws -> JSONDocument {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth, acceptCanonicalLargeIntegers: false)
        let value = try parser.parseDocument()
        return JSONDocument(value: value, bytes: bytes, topLevelMemberRanges: parser.topLevelMemberRanges)
    }

    /// The RFC 8785 canonical form of `bytes`: `serialize(parse(bytes))`.
    /// Parsing follows `parse`'s rules, `acceptCanonicalLargeIntegers` included.
    public static func canonicalize(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth,
                                    acceptCanonicalLargeIntegers: Bool = false) throws -> [UInt8] {
        serialize(try parse(bytes, maxDepth: maxDepth, acceptCanonicalLargeIntegers: acceptCanonicalLargeIntegers))
    }
}
