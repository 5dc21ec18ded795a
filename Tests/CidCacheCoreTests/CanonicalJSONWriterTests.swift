import XCTest
@testable import CidCacheCore

final class CanonicalJSONWriterTests: XCTestCase {
    func testReferenceTestData() throws {
        for fixture in CanonicalizationFixtures.all {
            let output = try CanonicalJSON.canonicalize(utf8(fixture.input))
            XCTAssertEqual(output, utf8(fixture.output), fixture.name)
            // The canonical form is a fixed point.
            XCTAssertEqual(try CanonicalJSON.canonicalize(output), output, fixture.name)
        }
    }

    /// RFC 8785 section 3.2.3's sorting example.
    func testRFCSortingExample() throws {
        let input = #"""
        {
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }
        """#
        let value = try parsed(input)
        let output = text(CanonicalJSON.serialize(value))
        XCTAssertEqual(output, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\","
            + "\"\u{F6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20AC}\":\"Euro Sign\","
            + "\"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}")
    }

    /// RFC 8785 section 3.2.2's serialization example.
    func testRFCSerializationExample() throws {
        let input = #"""
        {
          "numbers": [333333333.33333329, 1E30, 4.50,
                      2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }
        """#
        XCTAssertEqual(try canonical(input),
                       #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#)
    }

    func testSortsByUTF16CodeUnitsNotSwiftOrder() throws {
        // U+1F600 is D83D DE00 in UTF-16, below U+FB33; by scalar (and by
        // Swift's `<`) it comes after.
        let emoji = "\u{1F600}", dalet = "\u{FB33}"
        XCTAssertTrue(dalet < emoji, "the premise: Swift orders these the other way")
        let object = JSONObject([(key: dalet, value: 1), (key: emoji, value: 2)])
        XCTAssertEqual(text(CanonicalJSON.serialize(.object(object))), "{\"\(emoji)\":2,\"\(dalet)\":1}")
        XCTAssertEqual(try canonical(#"{"\uffff":1,"\ud800\udc00":2}"#), "{\"\u{10000}\":2,\"\u{FFFF}\":1}")
        XCTAssertEqual(try canonical(#"{"b":1,"a":2,"B":3,"":4,"aa":5,"a\u0000":6}"#),
                       #"{"":4,"B":3,"a":2,"a\u0000":6,"aa":5,"b":1}"#)
    }

    func testKeepsCanonicallyEquivalentKeysApart() throws {
        let output = try canonical(#"{"A\u030a":2,"\u00c5":1}"#)
        XCTAssertEqual(output, "{\"A\u{30A}\":2,\"\u{C5}\":1}")
        XCTAssertEqual(Array(output.utf8), utf8("{\"A") + [0xCC, 0x8A] + utf8("\":2,\"") + [0xC3, 0x85] + utf8("\":1}"))
    }

    func testDoesNotNormalizeUnicode() throws {
        XCTAssertEqual(Array(try canonical(#""\u1e0d\u0307""#).utf8), [0x22, 0xE1, 0xB8, 0x8D, 0xCC, 0x87, 0x22])
    }

    func testEscapesOnlyQuoteBackslashAndControls() throws {
        var expected = ["\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
                        "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f"]
        expected += (0x10...0x1F).map { "\\u00" + String($0, radix: 16) }
        for (code, escape) in expected.enumerated() {
            let value = JSON.string(String(Unicode.Scalar(UInt8(code))))
            XCTAssertEqual(text(CanonicalJSON.serialize(value)), "\"\(escape)\"", "U+\(code)")
        }
        XCTAssertEqual(text(CanonicalJSON.serialize(.string("\"\\"))), #""\"\\""#)
        XCTAssertEqual(text(CanonicalJSON.serialize(.string("/<>&'\u{7F}\u{80}\u{2028}\u{2029}\u{FEFF}é😀"))),
                       "\"/<>&'\u{7F}\u{80}\u{2028}\u{2029}\u{FEFF}é😀\"")
        XCTAssertEqual(try canonical(#""\u001F\u001f\u0020\/""#), #""\u001f\u001f /""#)
    }

    func testLiteralsAndStructures() {
        XCTAssertEqual(text(CanonicalJSON.serialize(nil)), "null")
        XCTAssertEqual(text(CanonicalJSON.serialize(true)), "true")
        XCTAssertEqual(text(CanonicalJSON.serialize(false)), "false")
        XCTAssertEqual(text(CanonicalJSON.serialize([])), "[]")
        XCTAssertEqual(text(CanonicalJSON.serialize(.object(JSONObject()))), "{}")
        XCTAssertEqual(text(CanonicalJSON.serialize([1, [2, [3]], ["b": [], "a": [:]]])), #"[1,[2,[3]],{"a":{},"b":[]}]"#)
    }

    func testRemovesWhitespaceAndNormalizesNumbers() throws {
        XCTAssertEqual(try canonical(" { \"b\" : [ 1.0 , -0 , 0.0 , 1E2, 1e-7, 10.50 ] , \"a\" : { } } "),
                       #"{"a":{},"b":[1,0,0,100,1e-7,10.5]}"#)
    }

    func testNonFiniteNumbersWriteNull() {
        XCTAssertEqual(text(CanonicalJSON.serialize([.number(.nan), .number(.infinity), .number(-.infinity)])),
                       "[null,null,null]")
    }

    func testRoundTripsThroughTheParser() throws {
        let values: [JSON] = [
            ["model": "gpt-4o-mini", "temperature": 0.7, "n": 2, "stop": ["\n", "\u{0}"], "x": nil, "y": true],
            ["\u{C5}": 1, "A\u{30A}": 2, "😀": ["דּ": [[], [:]]]],
            [.number(.leastNonzeroMagnitude), .number(-1.7976931348623157e308), .number(9007199254740992), .number(0.1)],
            .string("tab\tquote\"backslash\\ctl\u{1}del\u{7F}"),
        ]
        for value in values {
            let bytes = CanonicalJSON.serialize(value)
            XCTAssertEqual(try CanonicalJSON.parse(bytes), value)
            XCTAssertEqual(try CanonicalJSON.canonicalize(bytes), bytes, "idempotent")
        }
    }

    func testMembersAlreadyInScalarOrderAreStillSortedByUTF16() {
        // In scalar order already (U+FB33 before U+1F600): only UTF-16 order is canonical.
        let emoji = "\u{1F600}", dalet = "\u{FB33}", eAcute = "\u{E9}"
        let object = JSONObject([(key: "a", value: 0), (key: eAcute, value: 1), (key: dalet, value: 2), (key: emoji, value: 3)])
        XCTAssertEqual(text(CanonicalJSON.serialize(.object(object))),
                       "{\"a\":0,\"\(eAcute)\":1,\"\(emoji)\":3,\"\(dalet)\":2}")
        let repeated = JSONObject([(key: "k", value: 2), (key: "k", value: 1), (key: "a", value: 0)])
        XCTAssertEqual(text(CanonicalJSON.serialize(.object(repeated))), #"{"a":0,"k":2,"k":1}"#, "equal keys keep their order")
    }

    func testWholeNumbersPastTwoToTheFiftyThreeUseTheirShortestDigits() {
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(9_007_199_254_740_992))), "9007199254740992")
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(1_152_921_504_606_846_976))), "1152921504606847000")
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(-1e20))), "-100000000000000000000")
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(1e21))), "1e+21")
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(-0.0))), "0")
        XCTAssertEqual(text(CanonicalJSON.serialize(.number(1234))), "1234")
    }

    func testSerializationIsIndependentOfMemberOrder() {
        let a: JSON = ["x": 1, "y": ["p": 1, "q": 2]]
        let b: JSON = ["y": ["q": 2, "p": 1], "x": 1]
        XCTAssertEqual(CanonicalJSON.serialize(a), CanonicalJSON.serialize(b))
    }
}
