import CCrypto

/// AES-256-GCM (NIST SP 800-38D) through libcrypto. A sealed message is
/// `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, the nonce random per message.
public enum AES256GCM {
    /// The key length in bytes.
    public static let keyLength = 32
    /// The nonce length in bytes.
    public static let nonceLength = 12
    /// The authentication tag length in bytes.
    public static let tagLength = 16

    /// `plaintext` encrypted and authenticated under `key` with a fresh random
    /// nonce; `associatedData` is authenticated, not encrypted, nor included.
    public static func seal(_ plaintext: [UInt8], key: SymmetricKey,
                            associatedData: [UInt8] = []) throws(CacheError) -> [UInt8] {
        try seal(plaintext, key: key, nonce: SecureRandom.bytes(nonceLength), associatedData: associatedData)
    }

    /// `seal` with a given nonce, for published test vectors: a nonce must never repeat under one key.
    static func seal(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8],
                     associatedData: [UInt8]) throws(CacheError) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: tagLength)
        guard let ciphertext = try run(encrypting: true, plaintext, key: key, nonce: nonce,
                                       associatedData: associatedData, tag: &tag) else {
            throw CacheError(.io, "AES-256-GCM encryption failed")
        }
        return nonce + ciphertext + tag
    }

    /// The plaintext of `sealed` (as `seal` wrote it under `key` and
    /// `associatedData`); refused when it is too short or fails authentication
    /// (another key, other associated data, or any byte changed).
    public static func open(_ sealed: [UInt8], key: SymmetricKey,
                            associatedData: [UInt8] = []) throws(CacheError) -> [UInt8] {
        guard sealed.count >= nonceLength + tagLength else {
            throw CacheError(.io, "sealed data is \(sealed.count) bytes, shorter than a nonce and a tag")
        }
        let nonce = Array(sealed[..<nonceLength])
        let ciphertext = Array(sealed[nonceLength..<(sealed.count - tagLength)])
        var tag = Array(sealed[(sealed.count - tagLength)...])
        guard let plaintext = try run(encrypting: false, ciphertext, key: key, nonce: nonce,
                                      associatedData: associatedData, tag: &tag) else {
            throw CacheError(.io, "sealed data failed authentication (wrong key or altered bytes)")
        }
        return plaintext
    }

    /// Encrypts (writing `tag`) or decrypts (checking `tag`) `input`; nil when
    /// libcrypto fails, which on decryption means authentication failed.
    private static func run(encrypting: Bool, _ input: [UInt8], key: SymmetricKey, nonce: [UInt8],
                            associatedData: [UInt8], tag: inout [UInt8]) throws(CacheError) -> [UInt8]? {
        try checkSizes(key: key, nonce: nonce, count: input.count)
        guard let context = EVP_CIPHER_CTX_new() else { throw CacheError(.io, "EVP_CIPHER_CTX_new: out of memory") }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: input.count + tagLength)
        var length: Int32 = 0
        guard EVP_CipherInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nonce, encrypting ? 1 : 0) == 1,
              associatedData.isEmpty
                || EVP_CipherUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1,
              input.isEmpty || EVP_CipherUpdate(context, &output, &length, input, Int32(input.count)) == 1
        else { return nil }
        let written = input.isEmpty ? 0 : Int(length)
        if !encrypting {
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagLength), &tag) == 1 else { return nil }
        }
        // On decryption the tag is checked here: any change anywhere fails.
        let finished = output.withUnsafeMutableBufferPointer {
            EVP_CipherFinal_ex(context, $0.baseAddress! + written, &length) == 1
        }
        guard finished, written + Int(length) == input.count else { return nil }
        if encrypting {
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagLength), &tag) == 1 else { return nil }
        }
        return Array(output.prefix(input.count))
    }

    private static func checkSizes(key: SymmetricKey, nonce: [UInt8], count: Int) throws(CacheError) {
        guard key.bytes.count == keyLength else {
            throw CacheError(.invalidRequest, "an AES-256-GCM key is \(keyLength) bytes, not \(key.bytes.count)")
        }
        guard nonce.count == nonceLength else {
            throw CacheError(.invalidRequest, "an AES-256-GCM nonce is \(nonceLength) bytes, not \(nonce.count)")
        }
        guard count < Int(Int32.max) - tagLength else { throw CacheError(.tooLarge, "too large to seal in one message") }
    }
}
