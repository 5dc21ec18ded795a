/// The key document of docs/REFERENCE.md §1.3, `{"namespace": NS, "op": OP, "request": R}`,
/// whose RFC 8785 bytes a request CID hashes.
public enum KeyDocument {
    /// The key document as a JSON value; `request` is the normalized request.
    public static func value(namespace: String, op: String, request: JSON) -> JSON {
        .object(JSONObject([
            (key: "namespace", value: .string(namespace)),
            (key: "op", value: .string(op)),
            (key: "request", value: request),
        ]))
    }

    /// The key document's canonical (RFC 8785) bytes, as `cid/<request-cid>` reads it.
    public static func canonicalBytes(namespace: String, op: String, request: JSON) -> [UInt8] {
        CanonicalJSON.serialize(value(namespace: namespace, op: op, request: request))
    }

    /// The request CID: codec `json`, sha2-256 over `canonicalBytes`.
    public static func requestCID(namespace: String, op: String, request: JSON) -> CID {
        CID.forKeyDocument(canonicalBytes(namespace: namespace, op: op, request: request))
    }
}
