/// Strings: escapes, surrogate pairs and UTF-8 checked as RFC 8259 and RFC 8785 want.
extension JSONParser {
    /// Reads a string starting at its opening quote; returns its UTF-8 bytes,
    /// escapes decoded. Raw bytes are validated as UTF-8 and copied in runs.
    mutating func parseStringBytes() throws -> [UInt8] {
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
    mutating func parseEscape(into result: inout [UInt8]) throws {
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

    mutating func parseHex4() throws -> UInt16 {
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
    mutating func skipUTF8Sequence() throws {
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
}
