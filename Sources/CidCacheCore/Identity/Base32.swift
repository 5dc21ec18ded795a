/// RFC 4648 base32 in lower case without padding, the `b` multibase of CIDs.
public enum Base32 {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// `bytes` in lower-case base32, unpadded.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bitCount = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bitCount += 8
            while bitCount >= 5 {
                bitCount -= 5
                output.append(alphabet[Int(buffer >> UInt32(bitCount) & 0x1F)])
            }
        }
        if bitCount > 0 {
            output.append(alphabet[Int(buffer << UInt32(5 - bitCount) & 0x1F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of unpadded lower-case base32 text, or nil unless `text` is
    /// exactly what `encode` produces for some bytes: no upper case, no
    /// padding, no impossible length, no stray bits in the last character.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        switch characters.count % 8 {
        case 1, 3, 6: return nil
        default: break
        }
        var output: [UInt8] = []
        output.reserveCapacity(characters.count * 5 / 8)
        var buffer: UInt32 = 0
        var bitCount = 0
        for character in characters {
            let value: UInt32
            switch character {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(character - UInt8(ascii: "a"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = UInt32(character - UInt8(ascii: "2")) + 26
            default: return nil
            }
            buffer = (buffer << 5 | value) & 0xFFFF
            bitCount += 5
            if bitCount >= 8 {
                bitCount -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bitCount)))
            }
        }
        // The bits left over must be the zero padding of the last character.
        guard buffer & ((1 << UInt32(bitCount)) - 1) == 0 else { return nil }
        return output
    }
}
