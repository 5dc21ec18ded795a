import CCrypto

/// Bytes from libcrypto's CSPRNG (`RAND_bytes`), for keys and nonces.
public enum SecureRandom {
    /// `count` random bytes. A failing CSPRNG stops the process: a key or
    /// nonce made without one is worse than no answer.
    public static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        precondition(status == 1, "RAND_bytes failed")
        return bytes
    }
}
