import XCTest
@testable import CidCacheCore

final class JSONValueTests: XCTestCase {
    /// U+00C5 and U+0041 U+030A are canonically equivalent, so Swift's `==`
    /// calls them equal; JSON keys them apart.
    let precomposed = "\u{C5}"
    let decomposed = "A\u{30A}"

    func testSwiftEqualityIsTheTrapBeingAvoided() {
        XCTAssertEqual(precomposed, decomposed, "the premise: Swift String == is canonical equivalence")
        XCTAssertFalse(JSONObject.sameKey(precomposed, decomposed))
    }

    func testLookupsCompareExactCodeUnits() {
        let object = JSONObject([(key: precomposed, value: 1), (key: decomposed, value: 2)])
        XCTAssertEqual(object[precomposed], 1)
        XCTAssertEqual(object[decomposed], 2)
        XCTAssertEqual(object.index(forKey: decomposed), 1)
        XCTAssertTrue(object.contains(key: decomposed))
        XCTAssertFalse(object.contains(key: "A"))
        XCTAssertEqual(object.keys.map { Array($0.utf8) }, [Array(precomposed.utf8), Array(decomposed.utf8)])
    }

    func testSubscriptSetterReplacesAppendsAndRemovesByCodeUnits() {
        var object = JSONObject([(key: precomposed, value: 1)])
        object[decomposed] = 2
        XCTAssertEqual(object.count, 2, "an equivalent key is a new member")
        object[precomposed] = 3
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object[precomposed], 3)
        object[precomposed] = nil
        XCTAssertEqual(object.count, 1)
        XCTAssertEqual(object[decomposed], 2)
        object["absent"] = nil
        XCTAssertEqual(object.count, 1)
    }

    func testRemovingKeysRemovesOnlyExactSpellings() {
        let object = JSONObject([(key: precomposed, value: 1), (key: decomposed, value: 2), (key: "user", value: "x")])
        let removed = object.removing(keys: [decomposed, "user"])
        XCTAssertEqual(removed.count, 1)
        XCTAssertEqual(removed[precomposed], 1)
        XCTAssertNil(removed[decomposed])
        XCTAssertEqual(object.removing(keys: []), object)
        XCTAssertEqual(object.removing(keys: ["other"]).count, 3)
    }

    func testObjectEqualityIgnoresOrderButNotKeySpelling() {
        let ab: JSONObject = ["a": 1, "b": [true, nil]]
        let ba: JSONObject = ["b": [true, nil], "a": 1]
        XCTAssertEqual(ab, ba)
        XCTAssertNotEqual(ab, ["a": 1, "b": [true, false]])
        XCTAssertNotEqual(ab, ["a": 1])
        XCTAssertNotEqual(JSONObject([(key: precomposed, value: 1)]), JSONObject([(key: decomposed, value: 1)]))
        XCTAssertNotEqual(JSON.object(["a": 1]), JSON.array([1]))
    }

    func testAccessors() {
        let value: JSON = ["s": "text", "n": 3, "f": 2.5, "big": 1e300, "b": false, "z": nil, "a": [1, 2], "o": ["k": "v"]]
        XCTAssertEqual(value["s"]?.stringValue, "text")
        XCTAssertEqual(value["n"]?.intValue, 3)
        XCTAssertEqual(value["n"]?.doubleValue, 3)
        XCTAssertNil(value["f"]?.intValue, "not integral")
        XCTAssertEqual(value["f"]?.doubleValue, 2.5)
        XCTAssertNil(value["big"]?.intValue, "beyond Int")
        XCTAssertEqual(value["b"]?.boolValue, false)
        XCTAssertEqual(value["z"]?.isNull, true)
        XCTAssertEqual(value["a"]?.arrayValue, [1, 2])
        XCTAssertEqual(value["o"]?.objectValue?["k"], "v")
        XCTAssertNil(value["s"]?.intValue)
        XCTAssertNil(value["n"]?.stringValue)
        XCTAssertNil(value["n"]?.boolValue)
        XCTAssertNil(value["s"]?.objectValue)
        XCTAssertNil(value["s"]?.arrayValue)
        XCTAssertNil(value["missing"])
        XCTAssertNil(JSON.array([])["k"])
        XCTAssertEqual(JSON.number(-0.0).intValue, 0)
    }

    func testLiteralsKeepMemberOrder() {
        let value: JSON = ["z": 1, "a": 2]
        XCTAssertEqual(value.objectValue?.keys, ["z", "a"])
    }

    func testValuesAreSendable() {
        func requireSendable<T: Sendable>(_: T.Type) {}
        requireSendable(JSON.self)
        requireSendable(JSONObject.self)
        requireSendable(JSONDocument.self)
        requireSendable(CID.self)
        requireSendable(SHA256Hasher.self)
    }
}
