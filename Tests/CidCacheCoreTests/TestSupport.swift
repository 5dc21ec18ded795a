import XCTest
@testable import CidCacheCore

/// The UTF-8 bytes of `text`.
func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// `bytes` as a String, for comparing serializer output.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Parses `text` or fails the test.
func parsed(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> JSON {
    do {
        return try CanonicalJSON.parse(utf8(text))
    } catch {
        XCTFail("refused \(text.debugDescription): \(error)", file: file, line: line)
        throw error
    }
}

/// The canonical form of `text`.
func canonical(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    CidCacheCoreTests.text(CanonicalJSON.serialize(try parsed(text, file: file, line: line)))
}

/// Asserts that `bytes` are refused as an invalid request whose message
/// contains `reason`.
func assertRefused(_ bytes: [UInt8], _ reason: String, maxDepth: Int = CanonicalJSON.defaultMaxDepth,
                   file: StaticString = #filePath, line: UInt = #line) {
    do {
        let value = try CanonicalJSON.parse(bytes, maxDepth: maxDepth)
        XCTFail("accepted \(text(bytes).debugDescription) as \(value)", file: file, line: line)
    } catch let error as CacheError {
        XCTAssertEqual(error.kind, .invalidRequest, file: file, line: line)
        XCTAssertTrue(error.message.contains(reason),
                      "message \(error.message.debugDescription) lacks \(reason.debugDescription)",
                      file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// Asserts that `text` is refused as an invalid request whose message contains `reason`.
func assertRefused(_ text: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
    assertRefused(utf8(text), reason, file: file, line: line)
}

/// A small deterministic generator (SplitMix64), so random tests repeat.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
