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
    private struct OpenContainer {
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

    private mutating func parseValue() throws -> JSON {
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
    private mutating func parseKey(into container: inout OpenContainer) throws {
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

    private func checkDepth(_ depth: Int) throws {
        if depth > maxDepth {
            throw failure("nesting deeper than \(maxDepth) levels", at: position)
        }
    }

    private mutating func parseScalar() throws -> JSON {
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

    private mutating func expectLiteral(_ literal: StaticString) throws {
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
    private static let largestExactInteger = Array("9007199254740992".utf8)

    private mutating func parseNumber() throws -> Double {
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
    private func isBeyondTwoToThe53(_ digits: ArraySlice<UInt8>) -> Bool {
        let limit = JSONParser.largestExactInteger
        return digits.count > limit.count || (digits.count == limit.count && limit.lexicographicallyPrecedes(digits))
    }

    private func abbreviated(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "..." : text
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
    }

    // MARK: strings

    /// Reads a string starting at its opening quote; returns its UTF-8 bytes,
    /// escapes decoded. Raw bytes are validated as UTF-8 and copied in runs.
    private mutating func parseStringBytes() throws -> [UInt8] {
        let open = position
        position += 1
        var result: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw failure("unterminated string", at: open) }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                result += bytes[runStart..<position]
                position += 1
                return result
            case UInt8(ascii: "\\"):
                result += bytes[runStart..<position]
                try parseEscape(into: &result)
                runStart = position
            case 0..<0x20:
                throw failure("unescaped control character U+\(hex(byte, width: 4)) in a string", at: position)
            case 0x20..<0x80:
                position += 1
            default:
                try skipUTF8Sequence()
            }
        }
    }

    /// Decodes the escape at `position` (a backslash) into `result`.
    private mutating func parseEscape(into result: inout [UInt8]) throws {
        let start = position
        position += 1
        guard position < bytes.count else { throw failure("unterminated string", at: start) }
        let letter = bytes[position]
        position += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(letter)
        case UInt8(ascii: "b"): result.append(0x08)
        case UInt8(ascii: "f"): result.append(0x0C)
        case UInt8(ascii: "n"): result.append(0x0A)
        case UInt8(ascii: "r"): result.append(0x0D)
        case UInt8(ascii: "t"): result.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            var scalarValue = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                      bytes[position + 1] == UInt8(ascii: "u") else {
                    throw failure("lone high surrogate \\u\(hex(unit, width: 4)) in a string", at: start)
                }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw failure("lone high surrogate \\u\(hex(unit, width: 4)) in a string", at: start)
                }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw failure("lone low surrogate \\u\(hex(unit, width: 4)) in a string", at: start)
            default:
                break
            }
            // Every value left is a Unicode scalar: surrogates were paired or refused.
            if let scalar = Unicode.Scalar(scalarValue) {
                result += UTF8.encode(scalar)!
            }
        default:
            throw failure("invalid escape \\\(describeEscapeLetter(letter)) in a string", at: start)
        }
    }

    private mutating func parseHex4() throws -> UInt16 {
        let start = position
        guard bytes.count - position >= 4 else { throw failure("truncated \\u escape", at: start - 2) }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid hex digit in a \\u escape", at: position)
            }
            unit = unit << 4 | UInt16(digit)
            position += 1
        }
        return unit
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (Unicode table
    /// 3-7: no overlong forms, no encoded surrogates, nothing past U+10FFFF)
    /// and steps over it.
    private mutating func skipUTF8Sequence() throws {
        let start = position
        let lead = bytes[start]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0x80...0xBF: throw failure("invalid UTF-8 (unexpected continuation byte 0x\(hex(lead, width: 2)))", at: start)
        case 0xC0, 0xC1: throw failure("invalid UTF-8 (overlong encoding)", at: start)
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEF: length = 3
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        case 0xF1...0xF3: length = 4
        default: throw failure("invalid UTF-8 (byte 0x\(hex(lead, width: 2)) never appears in UTF-8)", at: start)
        }
        for offset in 1..<length {
            guard start + offset < bytes.count else {
                throw failure("invalid UTF-8 (truncated sequence)", at: start)
            }
            let byte = bytes[start + offset]
            guard (0x80...0xBF).contains(byte) else {
                throw failure("invalid UTF-8 (truncated sequence)", at: start)
            }
            if offset == 1, !secondRange.contains(byte) {
                let reason: String
                switch lead {
                case 0xE0, 0xF0: reason = "overlong encoding"
                case 0xED: reason = "encoded surrogate"
                default: reason = "code point beyond U+10FFFF"
                }
                throw failure("invalid UTF-8 (\(reason))", at: start)
            }
        }
        position += length
    }

    // MARK: helpers

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// The byte at `position`, or an "unexpected end of input" error.
    private func peekByte(expecting what: String) throws -> UInt8 {
        guard position < bytes.count else {
            throw failure("unexpected end of input, expected \(what)", at: position)
        }
        return bytes[position]
    }

    private func failure(_ reason: String, at offset: Int) -> CacheError {
        CacheError(.invalidRequest, "invalid JSON: \(reason) at byte \(offset)")
    }

    private func describeByte(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let byte = bytes[offset]
        if byte == 0 { return "a NUL byte" }
        if byte > 0x20, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(hex(byte, width: 2))"
    }

    private func describeEscapeLetter(_ byte: UInt8) -> String {
        byte > 0x20 && byte < 0x7F ? String(Character(Unicode.Scalar(byte))) : "(byte 0x\(hex(byte, width: 2)))"
    }

    /// A key for an error message: JSON-escaped, cut at 64 bytes.
    private func quoted(_ key: [UInt8]) -> String {
        let text = String(decoding: key.prefix(64), as: UTF8.self)
        return String(decoding: CanonicalJSON.serialize(.string(text)), as: UTF8.self) + (key.count > 64 ? "..." : "")
    }

    private func hex<T: BinaryInteger>(_ value: T, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
