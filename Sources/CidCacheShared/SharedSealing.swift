public import CidCacheCore

/// Scoped entries in the bucket are sealed (AES-256-GCM under
/// `SharedSealingKey`), record and body alike, so a reader of the bucket
/// without the credential learns nothing of them. The associated data binds
/// each sealed object to its place: a body to its content CID, a record to its
/// scope and request CID, so none can be moved to another key and still open.
public enum SharedSealing {
    static let blobDomain = "cidcache/shared/blob/v1"
    static let recordDomain = "cidcache/shared/idx/v1"

    /// The body as the bucket holds it for a scoped entry.
    public static func seal(_ body: [UInt8], key: SymmetricKey) throws(CacheError) -> [UInt8] {
        try AES256GCM.seal(body, key: key, associatedData: blobData(CID.forContent(body)))
    }

    /// The plaintext body of `sealed`, only when it opens under `key` and its
    /// content CID is `expectedContentCID`.
    public static func open(_ sealed: [UInt8], key: SymmetricKey, expectedContentCID: CID) throws(SharedRefusal) -> [UInt8] {
        let body: [UInt8]
        do {
            body = try AES256GCM.open(sealed, key: key, associatedData: blobData(expectedContentCID))
        } catch {
            throw .undecryptable
        }
        guard CID.forContent(body) == expectedContentCID else { throw .contentMismatch }
        return body
    }

    /// A signed record (`SharedRecord.signed`) as the bucket holds it for a scoped entry.
    public static func sealRecord(_ signedRecord: [UInt8], key: SymmetricKey, scope: SharedScope,
                                  requestCID: CID, sample: Int = 0) throws(CacheError) -> [UInt8] {
        try AES256GCM.seal(signedRecord, key: key, associatedData: recordData(scope, requestCID, sample))
    }

    /// The signed record inside `sealed`, still to be verified with `SharedRecord.verify`.
    public static func openRecord(_ sealed: [UInt8], key: SymmetricKey, scope: SharedScope,
                                  requestCID: CID, sample: Int = 0) throws(SharedRefusal) -> [UInt8] {
        do {
            return try AES256GCM.open(sealed, key: key, associatedData: recordData(scope, requestCID, sample))
        } catch {
            throw .undecryptable
        }
    }

    /// The unsealed body of a `pub` entry, only when its content CID is `expectedContentCID`.
    public static func checkPlain(_ body: [UInt8], expectedContentCID: CID) throws(SharedRefusal) -> [UInt8] {
        guard CID.forContent(body) == expectedContentCID else { throw .contentMismatch }
        return body
    }

    private static func blobData(_ content: CID) -> [UInt8] {
        Array(blobDomain.utf8) + [0] + Array(content.string.utf8)
    }

    /// What a sealed record is bound to: its scope, its request and (past the first) its sample.
    private static func recordData(_ scope: SharedScope, _ request: CID, _ sample: Int) -> [UInt8] {
        Array(recordDomain.utf8) + [0] + Array(scope.name.utf8) + [0] + Array(request.string.utf8)
            + (sample > 0 ? [0] + Array(String(sample).utf8) : [])
    }
}
