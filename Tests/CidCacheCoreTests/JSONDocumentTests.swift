import XCTest
@testable import CidCacheCore

final class JSONDocumentTests: XCTestCase {
    /// Removes `keys` from `input`, checks the result re-parses to the
    /// original value minus those keys, and returns it as text.
    @discardableResult
    private func remove(_ keys: Set<String>, from input: String,
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let document = try CanonicalJSON.parseDocument(utf8(input))
        let output = document.removingTopLevelMembers(keys)
        let reparsed = try CanonicalJSON.parse(output)
        if let object = document.value.objectValue {
            XCTAssertEqual(reparsed, .object(object.removing(keys: keys)), file: file, line: line)
            XCTAssertEqual(reparsed.objectValue?.keys, object.removing(keys: keys).keys, "order kept", file: file, line: line)
        } else {
            XCTAssertEqual(output, document.bytes, file: file, line: line)
        }
        return text(output)
    }

    func testRemovesTheFirstMember() throws {
        XCTAssertEqual(try remove(["user"], from: #"{"user":"u","model":"m","n":1}"#), #"{"model":"m","n":1}"#)
    }

    func testRemovesAMiddleMember() throws {
        XCTAssertEqual(try remove(["user"], from: #"{"model":"m","user":"u","n":1}"#), #"{"model":"m","n":1}"#)
    }

    func testRemovesTheLastMember() throws {
        XCTAssertEqual(try remove(["user"], from: #"{"model":"m","n":1,"user":"u"}"#), #"{"model":"m","n":1}"#)
    }

    func testRemovesTheOnlyMember() throws {
        XCTAssertEqual(try remove(["user"], from: #"{"user":"u"}"#), "{}")
        XCTAssertEqual(try remove(["user"], from: " { \"user\" : \"u\" } \n"), " {  } \n")
    }

    func testRemovesEveryMember() throws {
        XCTAssertEqual(try remove(["a", "b", "c"], from: #"{"a":1,"b":2,"c":3}"#), "{}")
    }

    func testRemovesSeveralMembersInAnyPosition() throws {
        let input = #"{"a":1,"b":2,"c":3,"d":4,"e":5}"#
        XCTAssertEqual(try remove(["a", "b"], from: input), #"{"c":3,"d":4,"e":5}"#)
        XCTAssertEqual(try remove(["d", "e"], from: input), #"{"a":1,"b":2,"c":3}"#)
        XCTAssertEqual(try remove(["b", "d"], from: input), #"{"a":1,"c":3,"e":5}"#)
        XCTAssertEqual(try remove(["a", "c", "e"], from: input), #"{"b":2,"d":4}"#)
        XCTAssertEqual(try remove(["a", "e"], from: input), #"{"b":2,"c":3,"d":4}"#)
    }

    func testKeepsTheCallersBytesWithWhitespaceAndNewlines() throws {
        let input = """
        {
          "model" : "gpt-4o-mini",
          "user": "alice",
          "messages": [ {"role": "user", "content": "hi"} ],
          "metadata": {"a": 1}
        }

        """
        let output = try remove(["user", "metadata"], from: input)
        XCTAssertEqual(output, """
        {
          "model" : "gpt-4o-mini",
          "messages": [ {"role": "user", "content": "hi"} ]
        }

        """)
        try remove(["model"], from: input)
        try remove(["messages"], from: input)
        try remove(["model", "user", "messages", "metadata"], from: input)
        try remove(["metadata"], from: "\t{\r\n\"a\"\t:\t1\r\n,\r\n\"metadata\"\t:\tnull\r\n}\r\n")
        try remove(["a"], from: "\t{\r\n\"a\"\t:\t1\r\n,\r\n\"metadata\"\t:\tnull\r\n}\r\n")
    }

    func testKeepsKeptMembersByteForByte() throws {
        let input = #"{"temperature":0.0,"user":"u","big":1E2,"s":"\u00e9"}"#
        XCTAssertEqual(try remove(["user"], from: input), #"{"temperature":0.0,"big":1E2,"s":"\u00e9"}"#)
    }

    func testMatchesEscapedSpellingsOfAKey() throws {
        XCTAssertEqual(try remove(["user"], from: #"{"\u0075ser":"u","n":1}"#), #"{"n":1}"#)
    }

    func testRemovesOnlyTheExactCodeUnits() throws {
        let input = #"{"\u00c5":1,"A\u030a":2}"#
        XCTAssertEqual(try remove(["A\u{30A}"], from: input), #"{"\u00c5":1}"#)
        XCTAssertEqual(try remove(["\u{C5}"], from: input), #"{"A\u030a":2}"#)
    }

    func testLeavesNestedMembersAlone() throws {
        let input = #"{"a":{"user":1},"user":2}"#
        XCTAssertEqual(try remove(["user"], from: input), #"{"a":{"user":1}}"#)
    }

    func testReturnsTheBytesUnchangedWhenNothingMatches() throws {
        let input = " {\"a\" : 1 }\n"
        let document = try CanonicalJSON.parseDocument(utf8(input))
        XCTAssertEqual(document.removingTopLevelMembers(["b"]), utf8(input))
        XCTAssertEqual(document.removingTopLevelMembers([]), utf8(input))
        for other in ["[1,2]", "\"user\"", "{}", "3"] {
            XCTAssertEqual(try CanonicalJSON.parseDocument(utf8(other)).removingTopLevelMembers(["user"]), utf8(other))
        }
    }

    func testRecordsTopLevelMemberRanges() throws {
        let input = #" {"a": [1, {"b": 2}] , "c":"d"} "#
        let document = try CanonicalJSON.parseDocument(utf8(input))
        XCTAssertEqual(document.topLevelMemberRanges.map { text(Array(document.bytes[$0])) },
                       [#""a": [1, {"b": 2}]"#, #""c":"d""#])
        XCTAssertEqual(try CanonicalJSON.parseDocument(utf8("[{\"a\":1}]")).topLevelMemberRanges, [])
    }

    func testParseDocumentRefusesWhatParseRefuses() {
        XCTAssertThrowsError(try CanonicalJSON.parseDocument(utf8(#"{"a":1,"a":2}"#)))
        XCTAssertThrowsError(try CanonicalJSON.parseDocument([]))
    }
}
