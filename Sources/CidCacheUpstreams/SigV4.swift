import CidCacheCore
import Glibc

/// An AWS key pair (and the session token of temporary credentials).
public struct AWSCredentials: Sendable {
    public var accessKeyID: String
    /// Used only to derive signing keys: never logged, stored or keyed.
    public var secretAccessKey: String
    public var sessionToken: String?
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 (the header form and the presigned-URL form), with
/// libcrypto's HMAC-SHA256 and SHA-256. Paths and query strings are given
/// decoded; this type does the one URI encoding S3 expects.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The SHA-256 of no bytes: the payload hash of a GET or HEAD.
    public static let emptyPayloadHash = Hex.encode(SHA256.hash([]))
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// RFC 3986 percent-encoding of everything but the unreserved characters
    /// (and `/` when `keepSlash`), upper-case hex, as SigV4 wants.
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        PercentEncoding.encode(text, keeping: keepSlash ? "/" : "")
    }

    /// `20130524T000000Z` for a Unix time.
    public static func amzDate(_ time: Int) -> String {
        var t = time_t(time)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// The canonical query string: each name and value encoded, sorted by name then value.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (uriEncode($0.name), uriEncode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// The canonical request of SigV4 step 1. `path` is decoded (`/bucket/my key`);
    /// `headers` are the signed ones.
    public static func canonicalRequest(method: String, path: String, query: [(name: String, value: String)],
                                        headers: [(name: String, value: String)], payloadHash: String) -> String {
        let sorted = canonicalHeaders(headers)
        return [method, uriEncode(path.isEmpty ? "/" : path, keepSlash: true), canonicalQuery(query),
                sorted.map { "\($0.name):\($0.value)\n" }.joined(),
                sorted.map(\.name).joined(separator: ";"), payloadHash].joined(separator: "\n")
    }

    /// Header names lower-cased, values trimmed with inner runs of spaces
    /// collapsed, sorted by name.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        headers.map { header in
            let words = header.value.split(separator: " ", omittingEmptySubsequences: true)
            return (name: header.name.lowercased(), value: words.joined(separator: " "))
        }.sorted { $0.name < $1.name }
    }

    /// `date/region/service/aws4_request`.
    public static func scope(date: String, region: String, service: String) -> String {
        "\(date.prefix(8))/\(region)/\(service)/aws4_request"
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, Hex.encode(SHA256.hash(Array(canonicalRequest.utf8)))].joined(separator: "\n")
    }

    /// The derived signing key: HMAC chain over date, region, service and `aws4_request`.
    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        var key = Array(("AWS4" + secret).utf8)
        for part in [String(date.prefix(8)), region, service, "aws4_request"] {
            key = HMACSHA256.authenticate(message: Array(part.utf8), key: key)
        }
        return key
    }

    public static func signature(_ stringToSign: String, key: [UInt8]) -> String {
        Hex.encode(HMACSHA256.authenticate(message: Array(stringToSign.utf8), key: key))
    }

    /// Signs a request in the header form: returns `headers` plus `x-amz-date`,
    /// `x-amz-content-sha256`, `x-amz-security-token` (temporary credentials)
    /// and `Authorization`. `headers` must include `host`.
    public static func signedHeaders(method: String, path: String, query: [(name: String, value: String)],
                                     headers: [(name: String, value: String)], payloadHash: String = emptyPayloadHash,
                                     credentials: AWSCredentials, region: String, service: String = "s3",
                                     time: Int) -> [(name: String, value: String)] {
        let date = amzDate(time)
        var all = headers
        all.append((name: "x-amz-content-sha256", value: payloadHash))
        all.append((name: "x-amz-date", value: date))
        if let token = credentials.sessionToken { all.append((name: "x-amz-security-token", value: token)) }
        let canonical = canonicalRequest(method: method, path: path, query: query, headers: all, payloadHash: payloadHash)
        let credentialScope = scope(date: date, region: region, service: service)
        let key = signingKey(secret: credentials.secretAccessKey, date: date, region: region, service: service)
        let sig = signature(stringToSign(amzDate: date, scope: credentialScope, canonicalRequest: canonical), key: key)
        let names = canonicalHeaders(all).map(\.name).joined(separator: ";")
        all.append((name: "Authorization",
                    value: "\(algorithm) Credential=\(credentials.accessKeyID)/\(credentialScope),SignedHeaders=\(names),Signature=\(sig)"))
        return all
    }

    /// A presigned URL (query-string form, only `host` signed, unsigned payload).
    /// `origin` is `scheme://host[:port]` and `host` the Host header value a client will send.
    public static func presignedURL(method: String = "GET", origin: String, host: String, path: String,
                                    query: [(name: String, value: String)] = [], credentials: AWSCredentials,
                                    region: String, service: String = "s3", time: Int, expiresIn: Int) -> String {
        let date = amzDate(time)
        let credentialScope = scope(date: date, region: region, service: service)
        var params = query
        params.append((name: "X-Amz-Algorithm", value: algorithm))
        params.append((name: "X-Amz-Credential", value: "\(credentials.accessKeyID)/\(credentialScope)"))
        params.append((name: "X-Amz-Date", value: date))
        params.append((name: "X-Amz-Expires", value: String(expiresIn)))
        if let token = credentials.sessionToken { params.append((name: "X-Amz-Security-Token", value: token)) }
        params.append((name: "X-Amz-SignedHeaders", value: "host"))
        let canonical = canonicalRequest(method: method, path: path, query: params,
                                         headers: [(name: "host", value: host)], payloadHash: unsignedPayload)
        let key = signingKey(secret: credentials.secretAccessKey, date: date, region: region, service: service)
        let sig = signature(stringToSign(amzDate: date, scope: credentialScope, canonicalRequest: canonical), key: key)
        return origin + uriEncode(path.isEmpty ? "/" : path, keepSlash: true) + "?"
            + canonicalQuery(params) + "&X-Amz-Signature=" + sig
    }
}
