/// The strict RFC 8259 parser behind `CanonicalJSON.parse`.
///
/// It is iterative, keeping open arrays and objects on an explicit stack, so
/// hostile nesting ends in a clear error at `maxDepth`, never in a stack overflow.
struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    /// Accept integer literals beyond ±2^53 that are exactly the canonical
    /// spelling of their double (see `CanonicalJSON.parse`).
    let acceptCanonicalLargeIntegers: Bool
    var position = 0
    /// Filled while parsing a top-level object: the byte range of each member.
    var topLevelMemberRanges: [Range<Int>] = []

    init(bytes: [UInt8], maxDepth: Int, acceptCanonicalLargeIntegers: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.acceptCanonicalLargeIntegers = acceptCanonicalLargeIntegers
    }

    /// An array or object still open while its elements are parsed.
    struct OpenContainer {
        var isObject: Bool
        var elements: [JSON] = []
        var members: [(key: String, value: JSON)] = []
        /// The UTF-8 bytes of the keys seen so far, to refuse duplicates.
        var seenKeys: Set<[UInt8]> = []
        /// The key whose value is being parsed, and where that key began.
        var pendingKey = ""
        var pendingKeyStart = 0
    }

    mutating func parseDocument() throws -> JSON {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw failure("a byte order mark is not allowed", at: 0)
        }
        skipWhitespace()
        guard position < bytes.count else { throw CacheError(.invalidRequest, "empty request") }
        let value = try parseValue()
        skipWhitespace()
        if position < bytes.count {
            throw failure("found \(describeByte(at: position)) after the JSON value", at: position)
        }
        return value
    }

    // MARK: values and containers

    mutating func parseValue() throws -> JSON {
        var stack: [OpenContainer] = []
        while true {
            // Read the start of a value; open containers continue the loop.
            skipWhitespace()
            var value: JSON
            switch try peekByte(expecting: "a value") {
            case UInt8(ascii: "["):
                try checkDepth(stack.count + 1)
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    value = .array([])
                } else {
                    stack.append(OpenContainer(isObject: false))
                    continue
                }
            case UInt8(ascii: "{"):
                try checkDepth(stack.count + 1)
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    value = .object(JSONObject())
                } else {
                    var container = OpenContainer(isObject: true)
                    try parseKey(into: &container)
                    stack.append(container)
                    continue
                }
            default:
                value = try parseScalar()
            }

            // A value is complete: hand it to the innermost open container,
            // closing containers for as long as their closing bracket follows.
            while true {
                guard !stack.isEmpty else { return value }
                let top = stack.count - 1
                if stack[top].isObject {
                    if top == 0 {
                        topLevelMemberRanges.append(stack[top].pendingKeyStart..<position)
                    }
                    stack[top].members.append((key: stack[top].pendingKey, value: value))
                } else {
                    stack[top].elements.append(value)
                }
                skipWhitespace()
                let closing = stack[top].isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let byte = try peekByte(expecting: stack[top].isObject ? "',' or '}'" : "',' or ']'")
                if byte == UInt8(ascii: ",") {
                    position += 1
                    if stack[top].isObject {
                        try parseKey(into: &stack[top])
                    }
                    break
                }
                guard byte == closing else {
                    let expected = stack[top].isObject ? "',' or '}'" : "',' or ']'"
                    throw failure("expected \(expected) but found \(describeByte(at: position))", at: position)
                }
                position += 1
                let closed = stack.removeLast()
                value = closed.isObject ? .object(JSONObject(closed.members)) : .array(closed.elements)
            }
        }
    }

    /// Reads `"key" :` and records the key in `container`, refusing duplicates.
    mutating func parseKey(into container: inout OpenContainer) throws {
        skipWhitespace()
        let start = position
        guard try peekByte(expecting: "a string key") == UInt8(ascii: "\"") else {
            throw failure("expected a string key but found \(describeByte(at: position))", at: position)
        }
        let keyBytes = try parseStringBytes()
        guard container.seenKeys.insert(keyBytes).inserted else {
            throw failure("duplicate key \(quoted(keyBytes))", at: start)
        }
        skipWhitespace()
        guard try peekByte(expecting: "':'") == UInt8(ascii: ":") else {
            throw failure("expected ':' after a key but found \(describeByte(at: position))", at: position)
        }
        position += 1
        container.pendingKey = String(decoding: keyBytes, as: UTF8.self)
        container.pendingKeyStart = start
    }

    func checkDepth(_ depth: Int) throws {
        if depth > maxDepth {
            throw failure("nesting deeper than \(maxDepth) levels", at: position)
        }
    }

    mutating func parseScalar() throws -> JSON {
        let byte = bytes[position]
        switch byte {
        case UInt8(ascii: "\""):
            return .string(String(decoding: try parseStringBytes(), as: UTF8.self))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw failure("NaN and Infinity are not JSON numbers", at: position)
        case 0:
            throw failure("NUL byte outside a string", at: position)
        default:
            throw failure("expected a value but found \(describeByte(at: position))", at: position)
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws {
        let start = position
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard bytes.count - position >= expected.count,
              bytes[position..<position + expected.count].elementsEqual(expected) else {
            throw failure("invalid literal (expected \(literal))", at: start)
        }
        position += expected.count
    }

    // MARK: numbers

    /// 2^53 in decimal: integer literals beyond it would collide as doubles.
    static let largestExactInteger = Array("9007199254740992".utf8)

    mutating func parseNumber() throws -> Double {
        let start = position
        if bytes[position] == UInt8(ascii: "-") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "I") {
                throw failure("NaN and Infinity are not JSON numbers", at: start)
            }
        }
        let integerStart = position
        guard position < bytes.count, isDigit(bytes[position]) else {
            throw failure("expected a digit in a number", at: position)
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) {
                throw failure("leading zeros are not allowed in a number", at: integerStart)
            }
        } else {
            skipDigits()
        }
        let integerEnd = position
        var isIntegerLiteral = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isIntegerLiteral = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw failure("expected a digit after the decimal point", at: position)
            }
            skipDigits()
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isIntegerLiteral = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw failure("expected a digit in the exponent", at: position)
            }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        let value = Double(text)
        if isIntegerLiteral, isBeyondTwoToThe53(bytes[integerStart..<integerEnd]),
           !(acceptCanonicalLargeIntegers && value.map(ECMAScriptNumber.format) == text) {
            throw failure("integer \(abbreviated(text)) is beyond ±2^53 and would collide with its neighbours as a double",
                          at: start)
        }
        guard let value, value.isFinite else {
            throw failure("number \(abbreviated(text)) overflows to infinity", at: start)
        }
        return value
    }

    /// Whether a run of digits (no leading zeros) is above 9007199254740992.
    func isBeyondTwoToThe53(_ digits: ArraySlice<UInt8>) -> Bool {
        let limit = JSONParser.largestExactInteger
        return digits.count > limit.count || (digits.count == limit.count && limit.lexicographicallyPrecedes(digits))
    }

    func abbreviated(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "..." : text
    }

    func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
    }

    // MARK: helpers

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// The byte at `position`, or an "unexpected end of input" error.
    func peekByte(expecting what: String) throws -> UInt8 {
        guard position < bytes.count else {
            throw failure("unexpected end of input, expected \(what)", at: position)
        }
        return bytes[position]
    }

    func failure(_ reason: String, at offset: Int) -> CacheError {
        CacheError(.invalidRequest, "invalid JSON: \(reason) at byte \(offset)")
    }

    func describeByte(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let byte = bytes[offset]
        if byte == 0 { return "a NUL byte" }
        if byte > 0x20, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(hex(byte, width: 2))"
    }

    func describeEscapeLetter(_ byte: UInt8) -> String {
        byte > 0x20 && byte < 0x7F ? String(Character(Unicode.Scalar(byte))) : "(byte 0x\(hex(byte, width: 2)))"
    }

    /// A key for an error message: JSON-escaped, cut at 64 bytes.
    func quoted(_ key: [UInt8]) -> String {
        let text = String(decoding: key.prefix(64), as: UTF8.self)
        return String(decoding: CanonicalJSON.serialize(.string(text)), as: UTF8.self) + (key.count > 64 ? "..." : "")
    }

    func hex<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
