/// HKDF with HMAC-SHA256 (RFC 5869): per-purpose keys from one secret.
public enum HKDFSHA256 {
    /// The `outputLength`-byte key (at most 255 × 32) derived from
    /// `inputKeyMaterial`, `salt` (empty: 32 zero bytes, as RFC 5869 §2.2 says)
    /// and `info`.
    public static func deriveKey(inputKeyMaterial: [UInt8], salt: [UInt8] = [], info: [UInt8],
                                 outputLength: Int) -> SymmetricKey {
        precondition(outputLength > 0 && outputLength <= 255 * SHA256.digestLength, "HKDF output length out of range")
        let pseudorandomKey = extract(inputKeyMaterial: inputKeyMaterial, salt: salt)
        var output: [UInt8] = []
        var block: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < outputLength {
            block = HMACSHA256.authenticate(message: block + info + [counter], key: pseudorandomKey)
            output += block
            counter &+= 1
        }
        return SymmetricKey(Array(output.prefix(outputLength)))
    }

    /// HKDF-Extract: the pseudorandom key.
    static func extract(inputKeyMaterial: [UInt8], salt: [UInt8]) -> [UInt8] {
        let salt = salt.isEmpty ? [UInt8](repeating: 0, count: SHA256.digestLength) : salt
        return HMACSHA256.authenticate(message: inputKeyMaterial, key: salt)
    }
}
