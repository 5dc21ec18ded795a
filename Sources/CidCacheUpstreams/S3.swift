import CidCacheCore
import Foundation
import Glibc

/// Amazon S3 (and S3-compatible stores) metadata: `list_objects`
/// (ListObjectsV2, every page joined unless `pages` says otherwise, as JSON),
/// `head_object` (the object's metadata as JSON) and `presign` (a presigned
/// GET URL computed locally, no call made). Object bodies are never fetched.
///
/// Path-style addressing (`{endpoint}/{bucket}/{key}`), AWS Signature Version 4.
/// The credential is `AWS_ACCESS_KEY_ID` (entries are scoped by a keyed hash
/// of it and its secret); the secret, session token and region are settings. Without an
/// access key id, requests go unsigned (public buckets); `presign` needs one.
struct S3Family: UpstreamFamily {
    public init() {}

    public let name = "s3"
    /// None: every call is signed (SigV4), for its host.
    public var credentialHeader: CredentialHeader? { nil }
    public var isCredentialScoped: Bool { true }
    public var settingVariables: [String: [String]] {
        ["secret_access_key": ["AWS_SECRET_ACCESS_KEY"], "session_token": ["AWS_SESSION_TOKEN"],
         "region": ["AWS_REGION", "AWS_DEFAULT_REGION"]]
    }
    public var catalog: [UpstreamOperation] { Self.listed }
    /// The key pair's id is the credential (scope); the secret and region are
    /// settings. `{region}` is filled in from the region.
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("s3", url: "https://s3.{region}.amazonaws.com", urlVariables: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
                          keyVariables: ["AWS_ACCESS_KEY_ID"])]
    }
    /// AWS access key ids.
    public var credentialPatterns: [String] { [#"AKIA[0-9A-Z]{8,}"#] }
    static let listed = [
        operation("list_objects", ttl: .fixed(300), required: ["bucket"],
                  fields: ["bucket": .string, "prefix": .string, "delimiter": .string, "start_after": .string,
                           "continuation_token": .string, "max_keys": .int(1...1000), "pages": .int(1...100_000)],
                  transport: .fetch({ call, client in
                      try await S3Family().listObjects(call.request, endpoint: call.endpoint, client: client)
                  }, retriesFailures: true)),
        operation("head_object", ttl: .fixed(600), required: ["bucket", "key"],
                  fields: ["bucket": .string, "key": .string, "version_id": .string],
                  transport: .fetch({ call, client in
                      try await S3Family().headObject(call.request, endpoint: call.endpoint, client: client)
                  }, retriesFailures: true)),
        // A presigned URL's answer lives until a minute before it expires, at most an hour.
        operation("presign", ttl: .computed { request in max(0, min(3600, (request["expires_in"]?.intValue ?? defaultExpiresIn) - 60)) },
                  required: ["bucket", "key"],
                  fields: ["bucket": .string, "key": .string, "version_id": .string, "expires_in": .int(61...maxExpiresIn)],
                  transport: .local { call in try S3Family().presign(call.request, endpoint: call.endpoint, time: Int(time(nil))) }),
    ]

    public static let defaultRegion = "us-east-1"
    public static let defaultExpiresIn = 3600
    /// SigV4's longest presigned validity (7 days).
    public static let maxExpiresIn = 604_800

    public func region(_ endpoint: Endpoint) -> String { endpoint.settings["region"] ?? Self.defaultRegion }

    public func scopeMaterial(endpoint: Endpoint) -> String? {
        endpoint.credential.map { $0 + "\n" + (endpoint.settings["secret_access_key"] ?? "") }
    }

    /// The region signs every request and is written into presigned URLs.
    public func identityParts(endpoint: Endpoint) -> [String] { ["region=" + region(endpoint)] }

    static func operation(_ name: String, ttl: TTLRule, required: [String], fields: [String: FieldKind],
                          transport: Transport) -> UpstreamOperation {
        var operation = UpstreamOperation(name, ttl: ttl, transport: transport)
        operation.validate = { request in
            try RequestFields.check(request, fields: fields, required: required, op: name)
            let bucket = request["bucket"]!.stringValue!
            let allowed = bucket.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".")
                    || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
            }
            guard allowed, (1...255).contains(bucket.utf8.count) else {
                throw CacheError(.invalidRequest, "s3 \(name): \"bucket\" is not a bucket name")
            }
            if let key = request["key"]?.stringValue, key.isEmpty {
                throw CacheError(.invalidRequest, "s3 \(name): \"key\" is empty")
            }
        }
        return operation
    }

    // MARK: Calls

    /// The configured key pair, nil for anonymous calls.
    func credentials(_ endpoint: Endpoint) throws -> AWSCredentials? {
        guard let id = endpoint.credential else { return nil }
        guard let secret = endpoint.settings["secret_access_key"] else {
            throw CacheError(.accessDenied, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: endpoint.settings["session_token"])
    }

    /// The endpoint split: origin (`scheme://host[:port]`), the Host header, any path prefix.
    func base(_ endpoint: Endpoint) throws -> (origin: String, host: String, prefix: String) {
        let url = endpoint.baseURL.replacingOccurrences(of: "{region}", with: region(endpoint))
        guard let split = URLParts(url), split.scheme == "http" || split.scheme == "https" else {
            throw CacheError(.invalidRequest, "s3 endpoint \(url) is not an http(s) URL")
        }
        return (split.origin, split.hostHeader, split.path)
    }

    func objectPath(_ request: JSONObject) -> String {
        let bucket = request["bucket"]?.stringValue ?? ""
        guard let key = request["key"]?.stringValue else { return "/" + bucket }
        return "/" + bucket + "/" + key
    }

    /// One signed (or, without credentials, anonymous) request.
    func signedRequest(method: String, path: String, query: [(name: String, value: String)],
                       endpoint: Endpoint, time: Int) throws -> UpstreamHTTPRequest {
        let (origin, host, prefix) = try base(endpoint)
        let fullPath = prefix + path
        var headers: [(name: String, value: String)] = [(name: "host", value: host)]
        if let credentials = try credentials(endpoint) {
            headers = SigV4.signedHeaders(method: method, path: fullPath, query: query, headers: headers,
                                          credentials: credentials, region: region(endpoint), time: time)
        }
        var url = origin + SigV4.uriEncode(fullPath, keepSlash: true)
        if !query.isEmpty { url += "?" + SigV4.canonicalQuery(query) }
        return UpstreamHTTPRequest(method: method, url: url, headers: headers, body: nil, crossOriginRedirects: .refuse)
    }

    func send(_ request: UpstreamHTTPRequest, client: UpstreamClient) async throws -> (UpstreamResponse, [UInt8]) {
        try await client.fetchWhole(request) { status, _, body in Self.error(status: status, body: body) }
    }

    func listObjects(_ request: JSONObject, endpoint: Endpoint, client: UpstreamClient) async throws -> [UInt8] {
        let bucket = request["bucket"]!.stringValue!
        var token = request["continuation_token"]?.stringValue
        var pagesLeft = request["pages"]?.intValue ?? Int.max
        var contents: [JSON] = [], prefixes: [JSON] = []
        var truncated = false
        var seen: Set<String> = []
        while true {
            var query: [(name: String, value: String)] = [(name: "list-type", value: "2")]
            for (field, param) in [("prefix", "prefix"), ("delimiter", "delimiter"), ("start_after", "start-after")] {
                if let value = request[field]?.stringValue { query.append((name: param, value: value)) }
            }
            if let maxKeys = request["max_keys"]?.intValue { query.append((name: "max-keys", value: String(maxKeys))) }
            if let token { query.append((name: "continuation-token", value: token)) }
            let call = try signedRequest(method: "GET", path: "/" + bucket, query: query, endpoint: endpoint, time: Int(time(nil)))
            let (_, body) = try await send(call, client: client)
            let page = try Self.parseListPage(body)
            contents += page.contents
            prefixes += page.commonPrefixes
            truncated = page.isTruncated
            token = page.nextToken
            pagesLeft -= 1
            guard truncated, let next = token, pagesLeft > 0 else { break }
            guard seen.insert(next).inserted else { throw CacheError(.io, "S3 repeated a continuation token") }
        }
        let document: JSON = .object(JSONObject([
            (key: "bucket", value: .string(bucket)),
            (key: "prefix", value: .string(request["prefix"]?.stringValue ?? "")),
            (key: "contents", value: .array(contents)),
            (key: "common_prefixes", value: .array(prefixes)),
            (key: "is_truncated", value: .bool(truncated)),
            (key: "next_continuation_token", value: truncated ? token.map(JSON.string) ?? .null : .null),
        ]))
        return CanonicalJSON.serialize(document)
    }

    /// One ListBucketResult page as JSON pieces.
    static func parseListPage(_ body: [UInt8]) throws -> (contents: [JSON], commonPrefixes: [JSON], isTruncated: Bool, nextToken: String?) {
        let (root, page) = try S3XML.read(ListBucketResult.self, from: body)
        guard root == "ListBucketResult" else { throw CacheError(.io, "S3 answered <\(root)>, not a ListBucketResult") }
        let contents: [JSON] = (page.contents ?? []).map { item in
            .object(JSONObject([
                (key: "key", value: .string(item.key ?? "")),
                (key: "size", value: item.size.flatMap(Double.init).map(JSON.number) ?? .null),
                (key: "etag", value: item.eTag.map(JSON.string) ?? .null),
                (key: "last_modified", value: item.lastModified.map(JSON.string) ?? .null),
                (key: "storage_class", value: item.storageClass.map(JSON.string) ?? .null),
            ]))
        }
        let prefixes: [JSON] = (page.commonPrefixes ?? []).compactMap { $0.prefix.map(JSON.string) }
        let next = page.nextContinuationToken.flatMap { $0.isEmpty ? nil : $0 }
        return (contents, prefixes, page.isTruncated == "true", next)
    }

    func headObject(_ request: JSONObject, endpoint: Endpoint, client: UpstreamClient) async throws -> [UInt8] {
        var query: [(name: String, value: String)] = []
        if let version = request["version_id"]?.stringValue { query.append((name: "versionId", value: version)) }
        let call = try signedRequest(method: "HEAD", path: objectPath(request), query: query, endpoint: endpoint, time: Int(time(nil)))
        let (response, _) = try await send(call, client: client)
        return CanonicalJSON.serialize(Self.headDocument(bucket: request["bucket"]!.stringValue!, key: request["key"]!.stringValue!,
                                                         headers: response.headers))
    }

    /// HeadObject's answer headers as JSON: the usual five, `metadata` from
    /// `x-amz-meta-*`, and the optional ones when present.
    static func headDocument(bucket: String, key: String, headers: [(name: String, value: String)]) -> JSON {
        func header(_ name: String) -> String? { HTTPHeader.value(name, in: headers) }
        var metadata = JSONObject()
        for (name, value) in headers where name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(name.lowercased().dropFirst("x-amz-meta-".count))] = .string(value)
        }
        var object = JSONObject([
            (key: "bucket", value: .string(bucket)),
            (key: "key", value: .string(key)),
            (key: "content_length", value: header("content-length").flatMap(Double.init).map(JSON.number) ?? .null),
            (key: "content_type", value: header("content-type").map(JSON.string) ?? .null),
            (key: "etag", value: header("etag").map(JSON.string) ?? .null),
            (key: "last_modified", value: header("last-modified").map(JSON.string) ?? .null),
            (key: "metadata", value: .object(metadata)),
        ])
        for (field, name) in [("version_id", "x-amz-version-id"), ("storage_class", "x-amz-storage-class"),
                              ("cache_control", "cache-control"), ("content_encoding", "content-encoding"),
                              ("content_disposition", "content-disposition"), ("content_language", "content-language"),
                              ("expires", "expires"), ("server_side_encryption", "x-amz-server-side-encryption")] {
            if let value = header(name) { object[field] = .string(value) }
        }
        return .object(object)
    }

    /// A presigned GET URL, computed here: `{"url", "method", "expires_in", "expires_at"}`.
    func presign(_ request: JSONObject, endpoint: Endpoint, time: Int) throws -> [UInt8] {
        guard let credentials = try credentials(endpoint) else {
            throw CacheError(.accessDenied, "presign needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let expiresIn = request["expires_in"]?.intValue ?? Self.defaultExpiresIn
        let (origin, host, prefix) = try base(endpoint)
        var query: [(name: String, value: String)] = []
        if let version = request["version_id"]?.stringValue { query.append((name: "versionId", value: version)) }
        let url = SigV4.presignedURL(origin: origin, host: host, path: prefix + objectPath(request), query: query,
                                     credentials: credentials, region: region(endpoint), time: time, expiresIn: expiresIn)
        return CanonicalJSON.serialize(.object(JSONObject([
            (key: "url", value: .string(url)),
            (key: "method", value: "GET"),
            (key: "expires_in", value: .number(Double(expiresIn))),
            (key: "expires_at", value: .string(Self.isoDate(time + expiresIn))),
        ])))
    }

    /// `2013-05-24T00:00:00Z`.
    static func isoDate(_ time: Int) -> String {
        let d = Array(SigV4.amzDate(time))
        return String(d[0..<4]) + "-" + String(d[4..<6]) + "-" + String(d[6..<8]) + "T"
            + String(d[9..<11]) + ":" + String(d[11..<13]) + ":" + String(d[13..<15]) + "Z"
    }

    // MARK: Errors

    /// S3's `<Error><Code>` first, then the status (docs/REFERENCE.md §5.1).
    public static func error(status: Int, body: [UInt8]) -> CacheError {
        let (code, message) = S3XML.errorDocument(body)
        let text = "S3 answered \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
        switch code {
        case "NoSuchBucket", "NoSuchKey", "NoSuchVersion", "NotFound":
            return CacheError(.notFound, text, status: status)
        case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken",
             "TokenRefreshRequired", "AccountProblem", "AllAccessDisabled", "RequestTimeTooSkewed",
             "InvalidSecurity", "MissingSecurityHeader", "AuthorizationHeaderMalformed":
            return CacheError(.accessDenied, text, status: status)
        case "SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded":
            return CacheError(.busy, text, status: status)
        case "RequestTimeout":
            return CacheError(.timedOut, text, status: status)
        default:
            return CacheError.forStatus(status, text)
        }
    }
}
