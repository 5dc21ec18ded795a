/// RFC 3986 percent-encoding, the one the families share: the unreserved
/// characters (ASCII letters and digits, `-._~`) and `keeping` stay as they
/// are; every other byte of the UTF-8 becomes `%XX`, upper-case hex (as SigV4 wants).
public enum PercentEncoding {
    public static func encode(_ text: String, keeping: String = "") -> String {
        let kept = Set(keeping.utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case _ where kept.contains(byte):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The text `encoded` stands for (and, in a query, `+` as a space); nil
    /// when a `%` is not followed by two hex digits or the bytes are not UTF-8.
    public static func decode(_ encoded: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        var input = encoded.utf8[...]
        while let byte = input.popFirst() {
            switch byte {
            case UInt8(ascii: "%"):
                guard input.count >= 2, let high = Hex.value(of: input.removeFirst()),
                      let low = Hex.value(of: input.removeFirst()) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
