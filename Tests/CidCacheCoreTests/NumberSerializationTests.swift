import Foundation
import XCTest
@testable import CidCacheCore

final class NumberSerializationTests: XCTestCase {
    private func serialized(_ value: Double) -> String {
        text(CanonicalJSON.serialize(.number(value)))
    }

    /// RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
    static let appendixB: [(bits: UInt64, text: String)] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
        (0xFFEF_FFFF_FFFF_FFFF, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xC340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44B5_2D02_C7E1_4AF5, "9.999999999999997e+22"),
        (0x44B5_2D02_C7E1_4AF6, "1e+23"),
        (0x44B5_2D02_C7E1_4AF7, "1.0000000000000001e+23"),
        (0x444B_1AE4_D6E2_EF4E, "999999999999999700000"),
        (0x444B_1AE4_D6E2_EF4F, "999999999999999900000"),
        (0x444B_1AE4_D6E2_EF50, "1e+21"),
        (0x3EB0_C6F7_A0B5_ED8C, "9.999999999999997e-7"),
        (0x3EB0_C6F7_A0B5_ED8D, "0.000001"),
        (0x41B3_DE43_5555_5553, "333333333.3333332"),
        (0x41B3_DE43_5555_5554, "333333333.33333325"),
        (0x41B3_DE43_5555_5555, "333333333.3333333"),
        (0x41B3_DE43_5555_5556, "333333333.3333334"),
        (0x41B3_DE43_5555_5557, "333333333.33333343"),
        (0xBECB_F647_612F_3696, "-0.0000033333333333333333"),
        (0x4314_3FF3_C1CB_0959, "1424953923781206.2"),
    ]

    func testRFC8785AppendixB() {
        for (bits, expected) in Self.appendixB {
            XCTAssertEqual(serialized(Double(bitPattern: bits)), expected, String(bits, radix: 16))
        }
    }

    /// Appendix B's NaN and Infinity have no JSON form; the parser refuses them
    /// and the writer, like `JSON.stringify`, degrades them to null.
    func testAppendixBNonFiniteValues() {
        XCTAssertEqual(serialized(Double(bitPattern: 0x7FFF_FFFF_FFFF_FFFF)), "null")
        XCTAssertEqual(serialized(Double(bitPattern: 0x7FF0_0000_0000_0000)), "null")
        XCTAssertEqual(serialized(Double(bitPattern: 0xFFF0_0000_0000_0000)), "null")
    }

    func testWhereSwiftDescriptionDiffers() {
        XCTAssertEqual(serialized(1e16), "10000000000000000")
        XCTAssertEqual(serialized(0.000001), "0.000001")
        XCTAssertEqual(serialized(1e-7), "1e-7")
        XCTAssertEqual(serialized(1e21), "1e+21")
        XCTAssertEqual(serialized(-0.0), "0")
        XCTAssertEqual(serialized(100.0), "100")
        XCTAssertEqual(serialized(9007199254740992.0), "9007199254740992")
        XCTAssertEqual(serialized(9.999999999999997e-07), "9.999999999999997e-7")
    }

    func testECMAScriptLayouts() {
        let cases: [(Double, String)] = [
            (1, "1"), (-1, "-1"), (10, "10"), (0.5, "0.5"), (-0.5, "-0.5"), (0.1, "0.1"), (1.5, "1.5"),
            (123.456, "123.456"), (0.002, "0.002"), (4.5, "4.5"), (1e30, "1e+30"), (1e-27, "1e-27"),
            (1e20, "100000000000000000000"), (1.5e20, "150000000000000000000"),
            (1.2345678901234568e20, "123456789012345680000"), (1.2345678901234568e21, "1.2345678901234568e+21"),
            (1.5e21, "1.5e+21"), (0.0000015, "0.0000015"), (1.5e-7, "1.5e-7"), (0.00001, "0.00001"),
            (-1e-7, "-1e-7"), (1.25e-10, "1.25e-10"), (2.5e+100, "2.5e+100"), (-9.5e-300, "-9.5e-300"),
            (Double.leastNormalMagnitude, "2.2250738585072014e-308"), (4294967296, "4294967296"),
            (0.30000000000000004, "0.30000000000000004"), (1234.5678, "1234.5678"), (5e-7, "5e-7"),
            (9.999999999999999e20, "999999999999999900000"), (1e15, "1000000000000000"),
        ]
        for (value, expected) in cases {
            XCTAssertEqual(serialized(value), expected, "\(value)")
        }
    }

    func testParsedNumbersComeOutCanonical() throws {
        let cases: [(String, String)] = [
            ("1.0", "1"), ("1E2", "100"), ("1e+2", "100"), ("-0", "0"), ("-0.0", "0"), ("0.0", "0"),
            ("0e10", "0"), ("100.00", "100"), ("1e-7", "1e-7"), ("0.0000001", "1e-7"), ("0.000001", "0.000001"),
            ("12e-1", "1.2"), ("1e21", "1e+21"), ("1000000000000000000000.0", "1e+21"),
            ("1e16", "10000000000000000"), ("4.50", "4.5"), ("2e-3", "0.002"),
            ("333333333.33333329", "333333333.3333333"), ("1E30", "1e+30"),
            ("0.000000000000000000000000001", "1e-27"), ("9007199254740993.0", "9007199254740992"),
            ("1e-400", "0"), ("-1e-400", "0"), ("0.1e1", "1"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(try canonical(input), expected, input)
        }
    }

    /// Random doubles: the text reads back as the same double, and one digit
    /// fewer (correctly rounded) would not.
    func testRandomDoublesRoundTripWithShortestDigits() throws {
        var generator = SplitMix64(state: 8785)
        var checked = 0
        while checked < 20_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite, value != 0 else { continue }
            checked += 1
            let output = serialized(value)
            XCTAssertEqual(Double(output), value, output)
            XCTAssertEqual(try CanonicalJSON.parse(utf8(output), acceptCanonicalLargeIntegers: true), .number(value), output)
            let digits = ECMAScriptNumber.shortestDigits(of: value.magnitude).digits.count
            if digits > 1 {
                let shorter = String(format: "%.\(digits - 2)e", value)
                XCTAssertNotEqual(Double(shorter), value, "\(output) is not the shortest")
            }
        }
    }

    func testRandomIntegersWriteEveryDigit() {
        var generator = SplitMix64(state: 53)
        for _ in 0..<5_000 {
            let integer = Int64.random(in: -(1 << 53)...(1 << 53), using: &generator)
            XCTAssertEqual(serialized(Double(integer)), String(integer))
        }
    }
}
