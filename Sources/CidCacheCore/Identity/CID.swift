/// A CIDv1 over a sha2-256 multihash, written in multibase `b` (RFC 4648
/// base32, lower case, unpadded), as docs/REFERENCE.md §1 defines both identities:
/// content CIDs (codec `raw`) and request CIDs (codec `json`).
public struct CID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The multicodecs a cidcache CID may carry.
    public enum Codec: UInt64, Sendable {
        /// Raw bytes: the codec of content CIDs (`bafkrei...`).
        case raw = 0x55
        /// JSON: the codec of request CIDs, over a canonical key document (`bagaaiera...`).
        case json = 0x0200
    }

    /// The multihash code of sha2-256.
    static let sha256Code: UInt8 = 0x12

    /// What the CID addresses.
    public let codec: Codec
    /// The 32-byte sha2-256 digest of the addressed bytes.
    public let digest: [UInt8]
    /// The CID as text: `b` followed by lower-case base32.
    public let string: String

    /// The CID of `codec` content whose sha2-256 digest is `digest`; nil unless
    /// `digest` is 32 bytes long.
    public init?(codec: Codec, sha256 digest: [UInt8]) {
        guard digest.count == SHA256.digestLength else { return nil }
        self.init(codec: codec, digest: digest, string: "b" + Base32.encode(CID.binary(codec: codec, digest: digest)))
    }

    private init(codec: Codec, digest: [UInt8], string: String) {
        self.codec = codec
        self.digest = digest
        self.string = string
    }

    /// Parses the text form strictly: `b`, then lower-case unpadded base32 of
    /// exactly [version 1, codec raw or json, sha2-256, length 32, digest],
    /// every varint minimal. Anything else gives nil.
    public init?(_ string: String) {
        guard string.utf8.first == UInt8(ascii: "b"),
              let bytes = Base32.decode(String(string.utf8.dropFirst())!),
              let cid = CID(bytes: bytes) else { return nil }
        // Strict base32 has one spelling per value: the text is already the canonical one.
        self.init(codec: cid.codec, digest: cid.digest, string: string)
    }

    /// Parses the binary form: [varint 1, varint codec, 0x12, 0x20, 32 digest bytes].
    public init?(bytes: [UInt8]) {
        var reader = bytes[...]
        guard CID.readVarint(&reader) == 1,
              let code = CID.readVarint(&reader), let codec = Codec(rawValue: code),
              reader.popFirst() == CID.sha256Code,
              reader.popFirst() == UInt8(SHA256.digestLength),
              reader.count == SHA256.digestLength else { return nil }
        self.init(codec: codec, sha256: Array(reader))
    }

    /// The binary form: [varint 1, varint codec, 0x12, 0x20, digest].
    public var bytes: [UInt8] { CID.binary(codec: codec, digest: digest) }

    /// The text form, as `string`.
    public var description: String { string }

    /// CIDs sort as their text does.
    public static func < (lhs: CID, rhs: CID) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// The content CID of a body: codec `raw`, as `ipfs block put --cid-codec raw` gives it.
    public static func forContent(_ bytes: [UInt8]) -> CID {
        CID(codec: .raw, sha256: SHA256.hash(bytes))!
    }

    /// The request CID of a canonical key document's bytes: codec `json`.
    public static func forKeyDocument(_ bytes: [UInt8]) -> CID {
        CID(codec: .json, sha256: SHA256.hash(bytes))!
    }

    private static func binary(codec: Codec, digest: [UInt8]) -> [UInt8] {
        var output = varint(1) + varint(codec.rawValue)
        output += [sha256Code, UInt8(SHA256.digestLength)]
        output += digest
        return output
    }

    /// Unsigned LEB128, as multiformats writes varints.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var output: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            output.append(byte)
        } while value != 0
        return output
    }

    /// Reads a minimal unsigned LEB128 varint of at most 9 bytes (the
    /// multiformats limit); nil when it is truncated, padded or too long.
    static func readVarint(_ reader: inout ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for index in 0..<9 {
            guard let byte = reader.popFirst() else { return nil }
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte & 0x80 == 0 {
                // A zero last byte after the first is padding: not minimal.
                return index > 0 && byte == 0 ? nil : value
            }
        }
        return nil
    }
}
