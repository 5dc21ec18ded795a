import CidCacheCore
import Foundation

/// The Docker Engine API (read-only inspection) over `DOCKER_HOST` — a unix
/// socket by default, `tcp://host:port` as plain HTTP — with an API version
/// prefix (`DOCKER_API_VERSION`, default v1.43, part of the upstream
/// identity), and `registry.tags` through a registry's v2 API with its token
/// handshake (401 + `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
/// → token from the realm → the call again with the token).
///
/// The credential, when set (`CIDCACHE_DOCKER_KEY=user:password`), is sent as
/// basic auth to the token realm (or a Basic challenge) of the default
/// registry only, and scopes the namespace's entries.
struct DockerFamily: UpstreamFamily {
    public init() {}

    public let name = "docker"
    /// None: the credential goes to a registry's token realm, not with each call.
    public var credentialHeader: CredentialHeader? { nil }
    public var catalog: [UpstreamOperation] { Self.listed }
    /// DOCKER_HOST: unix:///path or tcp://host:port; the credential is for registries (user:password).
    public var builtInNamespaces: [BuiltInNamespace] {
        [BuiltInNamespace("docker", url: "unix:///var/run/docker.sock", urlVariables: ["DOCKER_HOST"])]
    }
    static let listed = [
        engine("images.inspect", ttl: 1800, fields: ["name": .string], required: ["name"]) { request, _ in
            "/images/\(imagePath(request.string("name")))/json"
        },
        engine("images.history", ttl: 3600, fields: ["name": .string], required: ["name"]) { request, _ in
            "/images/\(imagePath(request.string("name")))/history"
        },
        engine("images.search", ttl: 600, fields: ["term": .string, "limit": .int(1...100), "filters": .stringOrObject],
               required: ["term"]) { request, query in
            query.append(("term", request.string("term"))); query.number("limit"); query.filters()
            return "/images/search"
        },
        engine("containers.inspect", ttl: 30, fields: ["id": .string, "size": .bool], required: ["id"]) { request, query in
            query.flag("size")
            return "/containers/\(PercentEncoding.encode(request.string("id")))/json"
        },
        engine("containers.list", ttl: 30, fields: ["all": .bool, "limit": .int(1...1_000_000), "size": .bool,
                                                    "filters": .stringOrObject], required: []) { _, query in
            query.flag("all"); query.number("limit"); query.flag("size"); query.filters()
            return "/containers/json"
        },
        engine("volumes.inspect", ttl: 300, fields: ["name": .string], required: ["name"]) { request, _ in
            "/volumes/\(PercentEncoding.encode(request.string("name")))"
        },
        engine("networks.inspect", ttl: 300, fields: ["id": .string, "verbose": .bool, "scope": .string],
               required: ["id"]) { request, query in
            query.flag("verbose")
            if let scope = request["scope"]?.stringValue { query.append(("scope", scope)) }
            return "/networks/\(PercentEncoding.encode(request.string("id")))"
        },
        operation("registry.tags", ttl: 1800, fields: ["repository": .string, "registry": .string, "n": .int(1...100_000),
                                                       "last": .string], required: ["repository"],
                  transport: .fetch({ call, client in
                      try await DockerFamily().registryTags(call.request, endpoint: call.endpoint, client: client)
                  }, retriesFailures: true)),
    ]
    public var isCredentialScoped: Bool { true }
    public var settingVariables: [String: [String]] { ["api_version": ["DOCKER_API_VERSION"], "registry": []] }

    public static let defaultAPIVersion = "v1.43"
    public static let dockerHub = "registry-1.docker.io"

    /// `v1.43` from `1.43` or `v1.43`; the default when unset.
    public func apiVersion(_ endpoint: Endpoint) -> String {
        guard let raw = endpoint.settings["api_version"], !raw.isEmpty else { return Self.defaultAPIVersion }
        return raw.hasPrefix("v") ? raw : "v" + raw
    }

    /// The registry asked when a request names none.
    public func defaultRegistry(_ endpoint: Endpoint) -> String { endpoint.settings["registry"] ?? Self.dockerHub }

    public func identityParts(endpoint: Endpoint) -> [String] {
        ["api=" + apiVersion(endpoint), "registry=" + defaultRegistry(endpoint)]
    }

    /// `unix:///path` (or a bare `/path`) → `http+unix://%2Fpath`; `tcp://h:p` → `http://h:p`.
    public func effectiveBaseURL(_ configured: String) -> String {
        var path: String?
        if configured.hasPrefix("unix://") { path = String(configured.dropFirst("unix://".count)) }
        else if configured.hasPrefix("/") { path = configured }
        if let path {
            return "http+unix://" + PercentEncoding.encode(path, keeping: "!$&'()*+,;=")
        }
        if configured.hasPrefix("tcp://") {
            let rest = String(configured.dropFirst("tcp://".count))
            let authority = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? rest
            return "http://" + (authority.contains(":") ? authority : authority + ":2375")
        }
        return configured
    }

    /// An operation; its request holds `fields`.
    static func operation(_ name: String, ttl: Int, fields: [String: FieldKind], required: [String],
                          transport: Transport) -> UpstreamOperation {
        var operation = UpstreamOperation(name, ttl: .fixed(ttl), transport: transport)
        operation.validate = { request in
            try RequestFields.check(request, fields: fields, required: required, op: name)
            for key in ["name", "id", "repository"] {
                if let value = request[key]?.stringValue { try checkName(value, field: key, op: name) }
            }
            if let registry = request["registry"]?.stringValue { _ = try registryOrigin(registry) }
            if name.hasPrefix("images."), let image = request["name"]?.stringValue {
                try DockerInput.checkImageReference(image, field: "name", op: name)
            }
            if let repository = request["repository"]?.stringValue {
                try DockerInput.checkImageReference(repository, field: "repository", op: name)
            }
            if let filters = request["filters"] { try DockerInput.checkFilters(filters, op: name) }
        }
        return operation
    }

    static func checkName(_ value: String, field: String, op: String) throws {
        let segments = value.split(separator: "/", omittingEmptySubsequences: false)
        guard !value.isEmpty, !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
              !value.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            throw CacheError(.invalidRequest, "\(op): \"\(field)\" is not a valid name")
        }
    }

    // MARK: Engine API

    /// An Engine API operation: a GET of `/{version}{path}`, the path and its
    /// query parameters from `route`.
    static func engine(_ name: String, ttl: Int, fields: [String: FieldKind], required: [String],
                       route: @escaping @Sendable (JSONObject, inout DockerInput.Query) -> String) -> UpstreamOperation {
        operation(name, ttl: ttl, fields: fields, required: required, transport: .paged(first: { call in
            var query = DockerInput.Query(request: call.request)
            let path = route(call.request, &query)
            return DockerFamily().engineRequest(path: path, query: query.items, endpoint: call.endpoint)
        }, read: { request, _, client in
            try await client.fetchWhole(request) { status, _, body in
                CacheError.forStatus(status, "Docker answered \(status): \(WireFormat.errorMessage(body))")
            }.body
        }))
    }

    /// The Engine API call of a path and its query.
    func engineRequest(path: String, query: [(String, String)], endpoint: Endpoint) -> UpstreamHTTPRequest {
        var url = endpoint.url("/" + apiVersion(endpoint) + path)
        if !query.isEmpty { url += "?" + query.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&") }
        var headers: [(name: String, value: String)] = [(name: "Accept", value: "application/json")]
        // HTTP/1.1 wants a Host; over a unix socket the client sends none of its own.
        if url.hasPrefix("http+unix://") { headers.append((name: "Host", value: "localhost")) }
        return UpstreamHTTPRequest(method: "GET", url: url, headers: headers, body: nil)
    }

    /// An image reference in a path: `/`, `:` and `@` kept (`ghcr.io/o/r:tag`, `name@sha256:...`).
    static func imagePath(_ name: String) -> String {
        PercentEncoding.encode(name, keeping: "/:@")
    }

    // MARK: Registry v2

    /// `scheme://host[:port]` of a registry named `host[:port]` (https) or by an http(s) URL.
    static func registryOrigin(_ registry: String) throws -> String {
        var text = registry
        if !text.contains("://") {
            if ["docker.io", "index.docker.io"].contains(text) { text = dockerHub }
            text = "https://" + text
        }
        guard let parts = URLParts(text), ["http", "https"].contains(parts.scheme), parts.path.isEmpty,
              parts.authority.allSatisfy({ ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) && $0.isASCII }) else {
            throw CacheError(.invalidRequest, "registry.tags: \"registry\" must be host[:port] or an http(s)://host[:port] URL")
        }
        return parts.origin.lowercased()
    }

    public func registryTags(_ request: JSONObject, endpoint: Endpoint, client: UpstreamClient) async throws -> [UInt8] {
        let asked = request["registry"]?.stringValue
        let registry = asked ?? defaultRegistry(endpoint)
        let origin = try Self.registryOrigin(registry)
        // Credentials go to the configured registry only.
        let credential = (asked == nil || (try? Self.registryOrigin(defaultRegistry(endpoint))) == origin) ? endpoint.credential : nil
        var repository = request["repository"]!.stringValue!
        if origin == "https://" + Self.dockerHub, !repository.contains("/") { repository = "library/" + repository }
        var query: [(String, String)] = []
        if let n = request["n"]?.intValue { query.append(("n", String(n))) }
        if let last = request["last"]?.stringValue { query.append(("last", last)) }
        var url = origin + "/v2/" + Self.imagePath(repository) + "/tags/list"
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&") }

        var authorization: String?
        var name = repository
        var tags: [JSON] = []
        var seen: Set<String> = []
        while true {
            var headers: [(name: String, value: String)] = [(name: "Accept", value: "application/json")]
            if let authorization { headers.append((name: "Authorization", value: authorization)) }
            let (response, bytes) = try await client.fetchWhole(UpstreamHTTPRequest(method: "GET", url: url, headers: headers, body: nil),
                                                                alsoAccepting: authorization == nil ? [401] : []) { status, _, body in
                Self.registryError(status: status, body: body)
            }
            if response.status == 401 {
                guard let challenge = response.header("www-authenticate").flatMap(Self.parseChallenge) else {
                    throw Self.registryError(status: 401, body: bytes)
                }
                authorization = try await authorize(challenge, repository: repository, registryOrigin: origin,
                                                    credential: credential, client: client)
                continue
            }
            guard let page = (try? CanonicalJSON.parse(bytes))?.objectValue else {
                throw CacheError(.io, "the registry's tag list is not a JSON object")
            }
            name = page["name"]?.stringValue ?? name
            tags += page["tags"]?.arrayValue ?? []
            // The next page is asked of the same registry, whatever host the link names.
            guard request["n"] == nil, let link = LinkHeader.next(response.header("link")),
                  let next = LinkHeader.nextPage(of: url, link: link), seen.insert(next).inserted else { break }
            url = next
        }
        return CanonicalJSON.serialize(.object(JSONObject([(key: "name", value: .string(name)), (key: "tags", value: .array(tags))])))
    }

    /// The `Authorization` value a challenge asks for.
    func authorize(_ challenge: AuthChallenge, repository: String, registryOrigin: String, credential: String?,
                   client: UpstreamClient) async throws -> String {
        let basic = credential.map { "Basic " + Base64.encode(Array($0.utf8)) }
        if challenge.scheme == "basic" {
            guard let basic else { throw CacheError(.accessDenied, "the registry asks for credentials and none is configured", status: 401) }
            return basic
        }
        guard challenge.scheme == "bearer", let realm = challenge.parameters["realm"],
              let realmParts = URLParts(realm), ["http", "https"].contains(realmParts.scheme) else {
            throw CacheError(.accessDenied, "the registry's challenge cannot be answered", status: 401)
        }
        var query: [(String, String)] = []
        if let service = challenge.parameters["service"] { query.append(("service", service)) }
        query.append(("scope", challenge.parameters["scope"] ?? "repository:\(repository):pull"))
        let url = realm + (realm.contains("?") ? "&" : "?") + query.map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        var headers: [(name: String, value: String)] = [(name: "Accept", value: "application/json")]
        // The realm a registry names gets the credential over TLS, or when it is the registry itself.
        if let basic, realmParts.scheme == "https" || realmParts.origin.lowercased() == registryOrigin {
            headers.append((name: "Authorization", value: basic))
        }
        let bytes = try await client.fetchWhole(UpstreamHTTPRequest(method: "GET", url: url, headers: headers, body: nil)) { status, _, body in
            let error = Self.registryError(status: status, body: body)
            return CacheError(error.kind, "token request: " + error.message, status: error.status)
        }.body
        guard let object = (try? CanonicalJSON.parse(bytes))?.objectValue,
              let token = object["token"]?.stringValue ?? object["access_token"]?.stringValue, !token.isEmpty else {
            throw CacheError(.io, "the registry's token answer holds no token")
        }
        return "Bearer " + token
    }

    /// A `WWW-Authenticate` challenge: its scheme (lower-cased) and parameters.
    public struct AuthChallenge: Equatable, Sendable {
        public var scheme: String
        public var parameters: [String: String]
    }

    /// Parses `Bearer realm="...",service="...",scope="..."` (quoted values may hold commas).
    public static func parseChallenge(_ header: String) -> AuthChallenge? {
        let text = Array(header.trimmingCharacters(in: .whitespaces))
        guard let space = text.firstIndex(of: " ") ?? (text.isEmpty ? nil : text.endIndex) else { return nil }
        let scheme = String(text[..<space]).lowercased()
        var parameters: [String: String] = [:]
        var i = space
        while i < text.count {
            while i < text.count, text[i] == " " || text[i] == "," { i += 1 }
            let keyStart = i
            while i < text.count, text[i] != "=" { i += 1 }
            guard i < text.count else { break }
            let key = String(text[keyStart..<i]).trimmingCharacters(in: .whitespaces).lowercased()
            i += 1
            var value = ""
            if i < text.count, text[i] == "\"" {
                i += 1
                while i < text.count, text[i] != "\"" {
                    if text[i] == "\\", i + 1 < text.count { i += 1 }
                    value.append(text[i]); i += 1
                }
                i += 1
            } else {
                while i < text.count, text[i] != "," { value.append(text[i]); i += 1 }
                value = value.trimmingCharacters(in: .whitespaces)
            }
            if !key.isEmpty { parameters[key] = value }
        }
        return AuthChallenge(scheme: scheme, parameters: parameters)
    }

    /// A registry's `{"errors": [{"code", "message"}]}` with the status's errno
    /// (`TOOMANYREQUESTS` busy, `DENIED`/`UNAUTHORIZED` access denied).
    static func registryError(status: Int, body: [UInt8]) -> CacheError {
        let first = (try? CanonicalJSON.parse(body))?.objectValue?["errors"]?.arrayValue?.first?.objectValue
        let code = first?["code"]?.stringValue
        let detail = first?["message"]?.stringValue ?? WireFormat.errorMessage(body)
        let text = "registry answered \(status)" + (code.map { " \($0)" } ?? "") + ": " + detail
        switch code {
        case "TOOMANYREQUESTS": return CacheError(.busy, text, status: status)
        case "DENIED", "UNAUTHORIZED": return CacheError(.accessDenied, text, status: status)
        case "NAME_UNKNOWN", "MANIFEST_UNKNOWN": return CacheError(.notFound, text, status: status)
        default: return CacheError.forStatus(status, text)
        }
    }
}
