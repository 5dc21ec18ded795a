import XCTest
@testable import CidCacheCore

final class JSONParserTests: XCTestCase {
    // MARK: accepted

    func testParsesEveryKindOfValue() throws {
        XCTAssertEqual(try parsed("null"), .null)
        XCTAssertEqual(try parsed("true"), .bool(true))
        XCTAssertEqual(try parsed("false"), .bool(false))
        XCTAssertEqual(try parsed("0"), .number(0))
        XCTAssertEqual(try parsed("-12.5e1"), .number(-125))
        XCTAssertEqual(try parsed("\"hi\""), .string("hi"))
        XCTAssertEqual(try parsed("[]"), .array([]))
        XCTAssertEqual(try parsed("{}"), .object(JSONObject()))
        XCTAssertEqual(try parsed(#"{"a":[1,{"b":null}],"c":"d"}"#), ["a": [1, ["b": nil]], "c": "d"])
    }

    func testKeepsMemberOrder() throws {
        let object = try XCTUnwrap(try parsed(#"{"z":1,"a":2,"m":3}"#).objectValue)
        XCTAssertEqual(object.keys, ["z", "a", "m"])
    }

    func testAllowsWhitespaceAroundTokens() throws {
        XCTAssertEqual(try parsed(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n\r\t "), ["a": [1, 2]])
        XCTAssertEqual(try parsed("\n7\n"), 7)
    }

    func testDecodesEveryEscape() throws {
        XCTAssertEqual(try parsed(#""\"\\\/\b\f\n\r\t""#), .string("\"\\/\u{8}\u{C}\n\r\t"))
        XCTAssertEqual(try parsed(#""\u0041\u00e9\u00C9\u20ac""#), .string("AéÉ€"))
        XCTAssertEqual(try parsed(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try parsed(#""\uD83D\uDE00""#), .string("😀"))
        XCTAssertEqual(try parsed(#""\u0000""#), .string("\u{0}"), "an escaped NUL is a valid string")
        XCTAssertEqual(try parsed(#""\uffff\ufb33""#), .string("\u{FFFF}\u{FB33}"))
    }

    func testAcceptsValidMultiByteUTF8() throws {
        XCTAssertEqual(try parsed("\"é€😀\u{10FFFF}\u{7F}\""), .string("é€😀\u{10FFFF}\u{7F}"))
        XCTAssertEqual(try parsed(#"{"péché":1}"#).objectValue?.keys, ["péché"])
    }

    func testNumbers() throws {
        XCTAssertEqual(try parsed("-0"), .number(-0.0))
        XCTAssertEqual(try parsed("1E2"), 100)
        XCTAssertEqual(try parsed("1e+2"), 100)
        XCTAssertEqual(try parsed("1e-2"), 0.01)
        XCTAssertEqual(try parsed("0.5"), 0.5)
        XCTAssertEqual(try parsed("1e-400"), 0, "underflow to zero is a finite number")
        XCTAssertEqual(try parsed("1.7976931348623157e308"), .number(.greatestFiniteMagnitude))
        XCTAssertEqual(try parsed("333333333.33333329"), .number(333333333.3333333))
        XCTAssertEqual(try parsed("1e20"), 1e20, "beyond 2^53 but not an integer literal")
    }

    func testIntegerLiteralsUpToTwoToThe53() throws {
        XCTAssertEqual(try parsed("9007199254740992"), .number(9007199254740992))
        XCTAssertEqual(try parsed("-9007199254740992"), .number(-9007199254740992))
        XCTAssertEqual(try parsed("9007199254740991"), .number(9007199254740991))
        XCTAssertEqual(try parsed("999999999999999"), .number(999999999999999))
        XCTAssertEqual(try parsed("9007199254740993.0"), .number(9007199254740992), "a fraction makes it a double")
    }

    func testNestingUpToTheLimit() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        XCTAssertNoThrow(try CanonicalJSON.parse(utf8(deepest)))
        let objects = String(repeating: #"{"a":"#, count: 512) + "1" + String(repeating: "}", count: 512)
        XCTAssertNoThrow(try CanonicalJSON.parse(utf8(objects)))
        XCTAssertNoThrow(try CanonicalJSON.parse(utf8("[[1]]"), maxDepth: 2))
        XCTAssertNoThrow(try CanonicalJSON.parse(utf8("1"), maxDepth: 0))
    }

    func testKeysThatSwiftCallsEqualStayDistinct() throws {
        let object = try XCTUnwrap(try parsed(#"{"\u00c5":1,"A\u030a":2}"#).objectValue)
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object["\u{C5}"], 1)
        XCTAssertEqual(object["A\u{30A}"], 2)
        let literal = try XCTUnwrap(try parsed("{\"\u{C5}\":1,\"A\u{30A}\":2}").objectValue)
        XCTAssertEqual(literal.count, 2)
    }

    // MARK: refused: the rules of docs/REFERENCE.md §1.4

    func testRefusesEmptyInput() {
        assertRefused("", "empty request")
        assertRefused("  \n\t ", "empty request")
    }

    func testRefusesByteOrderMark() {
        assertRefused([0xEF, 0xBB, 0xBF] + utf8("{}"), "byte order mark")
        assertRefused(utf8(" ") + [0xEF, 0xBB, 0xBF] + utf8("{}"), "byte 0xEF")
    }

    func testRefusesDuplicateKeys() {
        assertRefused(#"{"a":1,"a":2}"#, #"duplicate key "a" at byte 7"#)
        assertRefused(#"{"a":1,"b":2,"a":1}"#, "duplicate key")
        assertRefused(#"{"a":1,"\u0061":2}"#, "duplicate key")
        assertRefused(#"{"\u00c5":1,"\u00c5":2}"#, "duplicate key")
        assertRefused("{\"\u{C5}\":1,\"\\u00c5\":2}", "duplicate key")
        assertRefused(#"{"x":{"k":1,"k":1}}"#, "duplicate key")
        assertRefused(#"[{"k":1},{"k":1,"k":2}]"#, "duplicate key")
        assertRefused(#"{"":1,"":2}"#, "duplicate key")
    }

    func testAllowsTheSameKeyInDifferentObjects() throws {
        XCTAssertEqual(try parsed(#"{"k":{"k":1},"j":{"k":2}}"#), ["k": ["k": 1], "j": ["k": 2]])
    }

    func testRefusesInvalidUTF8() {
        let cases: [(bytes: [UInt8], reason: String)] = [
            ([0xC0, 0xAF], "overlong"),                 // '/' in two bytes
            ([0xC1, 0xBF], "overlong"),
            ([0xE0, 0x80, 0xAF], "overlong"),           // '/' in three bytes
            ([0xE0, 0x9F, 0xBF], "overlong"),
            ([0xF0, 0x80, 0x80, 0xAF], "overlong"),     // '/' in four bytes
            ([0xF0, 0x8F, 0xBF, 0xBF], "overlong"),
            ([0xED, 0xA0, 0x80], "encoded surrogate"),  // U+D800
            ([0xED, 0xBF, 0xBF], "encoded surrogate"),  // U+DFFF
            ([0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], "encoded surrogate"), // CESU-8 pair
            ([0xF4, 0x90, 0x80, 0x80], "beyond U+10FFFF"),
            ([0xF5, 0x80, 0x80, 0x80], "never appears"),
            ([0xFF], "never appears"),
            ([0xFE], "never appears"),
            ([0x80], "continuation"),
            ([0xBF], "continuation"),
            ([0xC3], "truncated"),
            ([0xE2, 0x82], "truncated"),
            ([0xF0, 0x9F, 0x98], "truncated"),
            ([0xC3, 0x41], "truncated"),
            ([0xE2, 0x28, 0xA1], "truncated"),
        ]
        for (sequence, reason) in cases {
            assertRefused([UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")], "invalid UTF-8 (")
            assertRefused([UInt8(ascii: "\"")] + sequence + [UInt8(ascii: "\"")], reason)
            assertRefused(utf8(#"{"k":""#) + sequence + utf8(#"x"}"#), "invalid UTF-8")
            assertRefused([UInt8(ascii: "{"), UInt8(ascii: "\"")] + sequence + utf8(#"":1}"#), "invalid UTF-8")
        }
        // Truncated at the very end of the input.
        assertRefused([UInt8(ascii: "\""), 0xE2, 0x82], "invalid UTF-8 (truncated")
        // Outside strings non-ASCII is never valid JSON.
        assertRefused([UInt8(ascii: "["), 0xC3, 0xA9, UInt8(ascii: "]")], "byte 0xC3")
        assertRefused([UInt8(ascii: "["), 0xFF, UInt8(ascii: "]")], "byte 0xFF")
    }

    func testInvalidUTF8ErrorNamesTheOffset() {
        assertRefused([UInt8(ascii: "\""), UInt8(ascii: "a"), 0xC0, 0xAF, UInt8(ascii: "\"")], "at byte 2")
    }

    func testRefusesLoneSurrogates() {
        assertRefused(#""\ud800""#, "lone high surrogate \\uD800")
        assertRefused(#""\udbff""#, "lone high surrogate")
        assertRefused(#""\udc00""#, "lone low surrogate \\uDC00")
        assertRefused(#""\udfff""#, "lone low surrogate")
        assertRefused(#""\ud800x""#, "lone high surrogate")
        assertRefused(#""\ud800\u0041""#, "lone high surrogate")
        assertRefused(#""\ud800\ud800""#, "lone high surrogate")
        assertRefused(#""\ude00\ud83d""#, "lone low surrogate")
        assertRefused(#""\ud800\n""#, "lone high surrogate")
        assertRefused(#"{"\ud800":1}"#, "lone high surrogate")
        assertRefused(#"["a","\udc00"]"#, "lone low surrogate \\uDC00 in a string at byte 6")
    }

    func testRefusesIntegersBeyondTwoToThe53() {
        assertRefused("9007199254740993", "beyond ±2^53")
        assertRefused("-9007199254740993", "beyond ±2^53")
        assertRefused("9007199254740994", "beyond ±2^53")
        assertRefused("10000000000000000", "beyond ±2^53")
        assertRefused("18446744073709551616", "beyond ±2^53")
        assertRefused("99999999999999999999999999999", "beyond ±2^53")
        assertRefused(#"{"seed":12345678901234567890}"#, "integer 12345678901234567890 is beyond")
        assertRefused("[1,-9007199254740993]", "at byte 3")
    }

    func testCanonicalLargeIntegersOnlyWhenAskedAndOnlyExact() throws {
        for literal in ["100000000000000000000", "-100000000000000000000", "9007199254740994", "10000000000000000",
                        "295147905179352830000", "999999999999999900000", "18446744073709552000"] {
            assertRefused(literal, "beyond ±2^53")
            let value = try CanonicalJSON.parse(utf8(literal), acceptCanonicalLargeIntegers: true)
            XCTAssertEqual(text(CanonicalJSON.serialize(value)), literal)
        }
        for literal in ["9007199254740993", "-9007199254740993", "18446744073709551616", "12345678901234567890",
                        "1000000000000000000000", "100000000000000000001"] {
            XCTAssertThrowsError(try CanonicalJSON.parse(utf8(literal), acceptCanonicalLargeIntegers: true), literal)
        }
        // What `serialize` writes for an accepted request always reads back.
        let request = try parsed(#"{"a":1e20,"b":[1.5e17,-12345678901234567.0],"c":9007199254740992}"#)
        let bytes = CanonicalJSON.serialize(request)
        XCTAssertEqual(text(bytes), #"{"a":100000000000000000000,"b":[150000000000000000,-12345678901234568],"c":9007199254740992}"#)
        XCTAssertThrowsError(try CanonicalJSON.parse(bytes))
        XCTAssertEqual(try CanonicalJSON.parse(bytes, acceptCanonicalLargeIntegers: true), request)
        XCTAssertEqual(try CanonicalJSON.canonicalize(bytes, acceptCanonicalLargeIntegers: true), bytes)
    }

    func testRefusesNumbersThatOverflowToInfinity() {
        assertRefused("1e400", "overflows to infinity")
        assertRefused("-1e400", "overflows to infinity")
        assertRefused("1.8e308", "overflows to infinity")
        assertRefused("[0, 1E99999999999999999999]", "overflows to infinity at byte 4")
    }

    func testRefusesNaNAndInfinity() {
        assertRefused("NaN", "NaN and Infinity")
        assertRefused("Infinity", "NaN and Infinity")
        assertRefused("-Infinity", "NaN and Infinity")
        assertRefused("[1,NaN]", "NaN and Infinity are not JSON numbers at byte 3")
        assertRefused(#"{"t":Infinity}"#, "NaN and Infinity")
        assertRefused("nan", "invalid literal")
        assertRefused("inf", "expected a value")
    }

    func testRefusesTrailingGarbage() {
        assertRefused("{} x", "found 'x' after the JSON value at byte 3")
        assertRefused("1 2", "after the JSON value")
        assertRefused("[1]]", "after the JSON value")
        assertRefused(#""a""b""#, "after the JSON value")
        assertRefused("{}{}", "after the JSON value")
        assertRefused("truex", "after the JSON value")
        assertRefused("nulll", "after the JSON value")
        assertRefused(utf8("{}") + [0x00], "found a NUL byte after the JSON value")
        assertRefused(utf8("{}\u{A0}"), "after the JSON value")
    }

    func testRefusesDeepNestingWithoutCrashing() {
        let depth = 100_000
        assertRefused(Array(repeating: UInt8(ascii: "["), count: depth), "nesting deeper than 512 levels at byte 512")
        assertRefused(utf8(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)), "nesting deeper")
        assertRefused(utf8(String(repeating: #"{"a":"#, count: depth)), "nesting deeper than 512 levels")
        assertRefused(utf8(String(repeating: "[{\"k\":", count: depth)), "nesting deeper")
        assertRefused(utf8(String(repeating: "[", count: 513) + String(repeating: "]", count: 513)), "nesting deeper")
        assertRefused(utf8("[[1]]"), "nesting deeper than 1 levels", maxDepth: 1)
        assertRefused(utf8("{}"), "nesting deeper than 0 levels", maxDepth: 0)
    }

    func testRefusesNULOutsideStrings() {
        assertRefused([0x00], "NUL byte outside a string at byte 0")
        assertRefused(utf8("[1,") + [0x00] + utf8("]"), "NUL byte outside a string at byte 3")
        assertRefused(utf8("[1") + [0x00] + utf8("]"), "a NUL byte")
        assertRefused(utf8(#"{"a""#) + [0x00] + utf8(":1}"), "a NUL byte")
        assertRefused(utf8(#"{"#) + [0x00] + utf8(#""a":1}"#), "a NUL byte")
    }

    func testRefusesUnescapedControlCharactersInStrings() {
        for byte in UInt8(0)..<0x20 {
            assertRefused([UInt8(ascii: "\""), UInt8(ascii: "a"), byte, UInt8(ascii: "\"")],
                          "unescaped control character U+00\(byte < 0x10 ? "0" : "")\(String(byte, radix: 16, uppercase: true)) in a string at byte 2")
        }
        assertRefused("{\"a\tb\":1}", "unescaped control character U+0009")
    }

    // MARK: refused: plain syntax errors

    func testRefusesMalformedNumbers() {
        assertRefused("01", "leading zeros")
        assertRefused("-01", "leading zeros")
        assertRefused("00", "leading zeros")
        assertRefused("1.", "after the decimal point")
        assertRefused("1.e3", "after the decimal point")
        assertRefused(".5", "expected a value")
        assertRefused("+1", "expected a value")
        assertRefused("-", "expected a digit")
        assertRefused("-a", "expected a digit")
        assertRefused("1e", "in the exponent")
        assertRefused("1e+", "in the exponent")
        assertRefused("1E-x", "in the exponent")
        assertRefused("0x10", "after the JSON value")
        assertRefused("1_000", "after the JSON value")
    }

    func testRefusesMalformedStrings() {
        assertRefused(#""abc"#, "unterminated string at byte 0")
        assertRefused(#""abc\"#, "unterminated string")
        assertRefused(#"["a\""#, "unterminated string")
        assertRefused(#""\x41""#, "invalid escape \\x")
        assertRefused(#""\U0041""#, "invalid escape \\U")
        assertRefused(#""\'""#, "invalid escape")
        assertRefused(#""\u12G4""#, "invalid hex digit")
        assertRefused(#"["\u12","x"]"#, "invalid hex digit in a \\u escape at byte 6")
        assertRefused(#""\u1"#, "truncated \\u escape")
        assertRefused("'a'", "expected a value")
    }

    func testRefusesMalformedStructures() {
        assertRefused("[1,]", "expected a value but found ']'")
        assertRefused("[,1]", "expected a value")
        assertRefused("[1 2]", "expected ',' or ']' but found '2'")
        assertRefused("[1", "unexpected end of input, expected ',' or ']'")
        assertRefused("[", "unexpected end of input, expected a value")
        assertRefused(#"{"a":1,}"#, "expected a string key but found '}'")
        assertRefused(#"{"a" 1}"#, "expected ':'")
        assertRefused(#"{"a":}"#, "expected a value")
        assertRefused(#"{"a":1 "b":2}"#, "expected ',' or '}'")
        assertRefused("{a:1}", "expected a string key")
        assertRefused("{1:1}", "expected a string key")
        assertRefused(#"{"a":1"#, "unexpected end of input")
        assertRefused(#"{"a""#, "unexpected end of input, expected ':'")
        assertRefused("{", "unexpected end of input, expected a string key")
        assertRefused("]", "expected a value but found ']'")
        assertRefused("tru", "invalid literal (expected true)")
        assertRefused("fals", "invalid literal (expected false)")
        assertRefused("nul", "invalid literal (expected null)")
        assertRefused("True", "expected a value")
        assertRefused("[1] // comment", "found '/'")
        assertRefused("/* c */ 1", "expected a value")
        assertRefused("\u{0B}1", "byte 0x0B")
        assertRefused("\u{0C}1", "byte 0x0C")
    }

    func testErrorsNameTheByteOffset() {
        assertRefused("[1, 2, x]", "at byte 7")
        assertRefused("{\n  \"a\": tru\n}", "at byte 9")
    }
}
