/// Secret key bytes that never print: `description` and `debugDescription`
/// are redacted so a key cannot reach a log or an error message by accident.
public struct SymmetricKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The key material.
    public let bytes: [UInt8]

    /// A key holding `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// A new random key of `count` bytes.
    public static func random(count: Int) -> SymmetricKey {
        SymmetricKey(SecureRandom.bytes(count))
    }

    public var description: String { "SymmetricKey(\(bytes.count) bytes, redacted)" }
    public var debugDescription: String { description }
}
