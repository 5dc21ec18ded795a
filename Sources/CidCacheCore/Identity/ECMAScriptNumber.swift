/// Numbers in the form ECMAScript's `Number.prototype.toString` gives them,
/// which RFC 8785 section 3.2.2.3 makes the canonical form.
enum ECMAScriptNumber {
    /// `value` as ECMAScript writes it: the shortest digits that read back as
    /// `value`, integers below 1e21 in full, exponents outside [1e-7, 1e21),
    /// `-0` as `0`. Non-finite values, which JSON cannot hold, give `null`.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == 0 { return "0" }
        // Whole numbers up to 2^53 are their own shortest digits (larger ones are
        // not: 2^60 is written 1152921504606847000), so their integer text is the answer.
        if value.magnitude <= 9_007_199_254_740_992, value == value.rounded(.towardZero) { return String(Int64(value)) }
        let (digits, pointPosition) = shortestDigits(of: value.magnitude)
        return (value < 0 ? "-" : "") + layout(digits: digits, pointPosition: pointPosition)
    }

    /// The shortest round-trip decimal digits of a positive finite `value`
    /// (no leading or trailing zeros) and `n`, such that `value` reads as
    /// 0.`digits` × 10^n.
    ///
    /// Swift's `description` already holds the shortest digits that round-trip
    /// (and the closest of them to the value), laid out as `123.45`, `1e-06` or
    /// `1.2345e+20`; only its layout is discarded here.
    static func shortestDigits(of value: Double) -> (digits: [UInt8], pointPosition: Int) {
        let text = Array(value.description.utf8)
        var mantissa = text[...]
        var exponent = 0
        if let e = text.firstIndex(of: UInt8(ascii: "e")) {
            mantissa = text[..<e]
            exponent = Int(String(decoding: text[(e + 1)...], as: UTF8.self))!
        }
        var digits: [UInt8] = []
        var integerDigits = 0
        var seenPoint = false
        for byte in mantissa {
            if byte == UInt8(ascii: ".") {
                seenPoint = true
            } else {
                digits.append(byte)
                if !seenPoint { integerDigits += 1 }
            }
        }
        var pointPosition = integerDigits + exponent
        let leadingZeros = digits.prefix { $0 == UInt8(ascii: "0") }.count
        digits.removeFirst(leadingZeros)
        pointPosition -= leadingZeros
        while digits.last == UInt8(ascii: "0") { digits.removeLast() }
        return (digits, pointPosition)
    }

    /// ECMAScript's Number::toString steps 6 to 10 for digits s (k of them)
    /// and n.
    static func layout(digits: [UInt8], pointPosition n: Int) -> String {
        let k = digits.count
        var output: [UInt8] = []
        if k <= n && n <= 21 {
            output = digits + Array(repeating: UInt8(ascii: "0"), count: n - k)
        } else if 0 < n && n <= 21 {
            output = Array(digits[..<n]) + [UInt8(ascii: ".")] + digits[n...]
        } else if -6 < n && n <= 0 {
            output = Array("0.".utf8) + Array(repeating: UInt8(ascii: "0"), count: -n) + digits
        } else {
            output = [digits[0]]
            if k > 1 { output += [UInt8(ascii: ".")] + digits[1...] }
            output += Array("e".utf8) + Array((n - 1 < 0 ? "-" : "+").utf8) + Array(String((n - 1).magnitude).utf8)
        }
        return String(decoding: output, as: UTF8.self)
    }
}
