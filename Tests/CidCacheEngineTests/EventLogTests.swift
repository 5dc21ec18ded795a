import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import Foundation
import XCTest

final class EventLogTests: XCTestCase {
    /// The hand-written timestamp agrees with Foundation's RFC 3339 formatter.
    func testTimestampMatchesISO8601Formatter() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let dates = [0, 0.001, 0.999, 951_782_400.5, 1_795_000_000.042, 4_102_444_799.999].map(Date.init(timeIntervalSince1970:))
        for date in dates {
            XCTAssertEqual(EventLog.timestamp(date), reference.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }

    func testLinesAreAppendedAndRotated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = EventLog(path: dir + "/log.jsonl", rotateBytes: 100, truncate: true)
        for index in 0..<5 { log.append([("n", .number(Double(index))), ("pad", .string(String(repeating: "x", count: 30)))]) }
        let current = try String(contentsOfFile: dir + "/log.jsonl", encoding: .utf8)
        let rotated = try String(contentsOfFile: dir + "/log.jsonl.1", encoding: .utf8)
        XCTAssertTrue(current.hasSuffix("\"n\":4,\"pad\":\"\(String(repeating: "x", count: 30))\"}\n"))
        XCTAssertEqual(current.split(separator: "\n").count, 1)
        XCTAssertEqual(rotated.split(separator: "\n").count, 2, "lines 0 and 1 went with the first rotation")
    }
}
