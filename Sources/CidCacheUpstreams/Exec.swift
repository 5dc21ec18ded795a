public import CidCacheCore
import Foundation
import Glibc

/// One allow-listed command of the config's `exec` section.
public struct ExecCommand: Sendable, Equatable {
    /// The fixed argv: the executable (a path, or a name looked up on `PATH`) and its first arguments.
    public var argv: [String]
    /// How long its answers live, in seconds.
    public var ttl = 600
    /// How long a run may take before it is killed (ETIMEDOUT).
    public var timeoutSeconds = 60.0
    /// Whether requests may name input files (`files`).
    public var inputs = false
    /// The working directory (absolute), else the daemon's.
    public var cwd: String?

    public init(argv: [String], ttl: Int = 600, timeoutSeconds: Double = 60, inputs: Bool = false, cwd: String? = nil) {
        self.argv = argv
        self.ttl = ttl
        self.timeoutSeconds = timeoutSeconds
        self.inputs = inputs
        self.cwd = cwd
    }

    /// Whether `name` may name a command: a letter or digit, then up to 63 of `A-Z a-z 0-9 . _ -`.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func ok(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
        }
        guard let first = bytes.first, (1...64).contains(bytes.count), ok(first) else { return false }
        return bytes.allSatisfy { ok($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// The config's member that holds the allow-listed commands.
    public static let configSection = "exec"

    /// Parses the config's `exec` object: `{"NAME": {"argv": [...], "ttl": 600,
    /// "timeout_s": 60, "inputs": true, "cwd": "/dir"}}`.
    public static func parseSection(_ value: JSON, source: String) throws -> [String: ExecCommand] {
        func fail(_ key: String, _ what: String) -> CacheError {
            CacheError(.invalidRequest, "\(source): \(key) \(what)")
        }
        guard let section = value.objectValue else { throw fail("exec", "must be an object of commands") }
        var commands: [String: ExecCommand] = [:]
        for (name, spec) in section.members {
            let key = "exec.\(name)"
            guard isValidName(name) else {
                throw fail(key, "is not a valid command name (a letter or digit, then up to 63 letters, digits, '.', '_' or '-')")
            }
            guard let object = spec.objectValue else { throw fail(key, "must be an object with an \"argv\" list") }
            guard let list = object["argv"]?.arrayValue, !list.isEmpty,
                  case let argv = list.compactMap(\.stringValue), argv.count == list.count, !argv[0].isEmpty,
                  !argv.contains(where: { $0.utf8.contains(0) }) else {
                throw fail(key + ".argv", "must be a non-empty list of strings, the executable first")
            }
            var command = ExecCommand(argv: argv)
            for (field, setting) in object.members {
                switch field {
                case "argv": break
                case "ttl":
                    guard let ttl = setting.intValue, ttl >= 0 else { throw fail(key + ".ttl", "must be a non-negative integer") }
                    command.ttl = ttl
                case "timeout_s":
                    guard let seconds = setting.doubleValue, seconds > 0 else { throw fail(key + ".timeout_s", "must be a positive number") }
                    command.timeoutSeconds = seconds
                case "inputs":
                    guard let flag = setting.boolValue else { throw fail(key + ".inputs", "must be true or false") }
                    command.inputs = flag
                case "cwd":
                    guard let dir = setting.stringValue, dir.hasPrefix("/") else { throw fail(key + ".cwd", "must be an absolute path") }
                    command.cwd = dir
                default:
                    throw fail(key, "has an unknown setting \"\(field)\" (known: argv, ttl, timeout_s, inputs, cwd)")
                }
            }
            commands[name] = command
        }
        return commands
    }
}

/// Allow-listed local commands (the config's `exec` section): the operation
/// is the command's name, the request `{"args": [...], "stdin": "...",
/// "files": {"label": "/abs/path"}}`, the answer its stdout. The configured
/// argv and the named files' content CIDs join the key (`command`,
/// `input_cids`), so a changed file or a changed command is a new request.
/// Run with posix_spawn (no shell); a name not on the list fails with EACCES,
/// a non-zero exit with EIO (stderr in the message), the deadline with ETIMEDOUT.
struct ExecFamily: UpstreamFamily {
    public let commands: [String: ExecCommand]
    /// The largest stdout taken in (the config's `response_limit_bytes`).
    public let outputLimit: Int

    public init(commands: [String: ExecCommand] = [:], outputLimit: Int = 256 * 1024 * 1024) {
        self.commands = commands
        self.outputLimit = outputLimit
    }

    public let name = "exec"
    /// None: commands take no credential (the key only scopes entries).
    public var credentialHeader: CredentialHeader? { nil }
    public var isCredentialScoped: Bool { true }
    public var answersAreMachineIndependent: Bool { false }
    /// The configured commands.
    public var catalog: [UpstreamOperation] { commands.keys.sorted().compactMap(operation(named:)) }
    public var builtInNamespaces: [BuiltInNamespace] { [BuiltInNamespace("exec", url: "exec://localhost")] }

    public func configured(with options: FamilyOptions) throws -> any UpstreamFamily {
        ExecFamily(commands: options.execCommands, outputLimit: options.responseLimitBytes)
    }

    /// Any valid command name: one not on the list opens, and fails with EACCES when asked.
    public func operation(named name: String) -> UpstreamOperation? {
        guard ExecCommand.isValidName(name) else { return nil }
        let command = commands[name]
        let outputLimit = outputLimit
        // A command that failed fails the same way again: its failures are not transient.
        var operation = UpstreamOperation(name, ttl: .fixed(command?.ttl ?? 0), transport: .fetch({ call, _ in
            guard let command else { throw CacheError(.accessDenied, "exec: \(name) is not an allow-listed command") }
            return try await Self.run(command, name: name, request: call.request, outputLimit: outputLimit)
        }, retriesFailures: false))
        operation.validate = { request in try Self.validate(request, op: name) }
        operation.enrich = { request in try Self.enrich(request, command: command, op: name) }
        return operation
    }

    static let fields: [String: FieldKind] = ["args": .stringArray, "stdin": .string, "files": .object]

    static func validate(_ request: JSONObject, op: String) throws {
        try RequestFields.check(request, fields: Self.fields, required: [], op: "exec \(op)")
        if let args = request["args"]?.arrayValue, args.contains(where: { $0.stringValue!.utf8.contains(0) }) {
            throw CacheError(.invalidRequest, "exec \(op): \"args\" cannot hold NUL characters")
        }
        for (label, path) in request["files"]?.objectValue?.members ?? [] {
            guard let path = path.stringValue, path.hasPrefix("/"), !path.utf8.contains(0) else {
                throw CacheError(.invalidRequest, "exec \(op): files.\(label) must be an absolute path")
            }
        }
    }

    /// Adds the configured argv and the content CIDs of the named files.
    static func enrich(_ request: JSONObject, command: ExecCommand?, op: String) throws -> JSONObject {
        guard let command else { return request }
        var enriched = request
        enriched["command"] = .array(command.argv.map(JSON.string))
        if let files = request["files"]?.objectValue {
            guard command.inputs else {
                throw CacheError(.invalidRequest, "exec \(op) takes no input files (its config lacks \"inputs\": true)")
            }
            var cids = JSONObject()
            for (label, path) in files.members {
                cids[label] = .string(try Self.contentCID(path: path.stringValue!, label: label).string)
            }
            enriched["input_cids"] = .object(cids)
        }
        return enriched
    }

    /// The content CID of a file, read in chunks.
    static func contentCID(path: String, label: String) throws -> CID {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let kind: CacheError.Kind = errno == ENOENT || errno == ENOTDIR ? .notFound : errno == EACCES ? .accessDenied : .io
            throw CacheError(kind, "input file \(label) (\(path)): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CacheError(.invalidRequest, "input file \(label) (\(path)) is not a regular file")
        }
        var hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 { if errno == EINTR { continue }; throw CacheError(.io, "input file \(label): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update($0.baseAddress!, count: n) }
        }
        return CID(codec: .raw, sha256: hasher.finalize())!
    }

    /// The argv a request runs: the configured one, then `args`.
    static func argv(_ command: ExecCommand, request: JSONObject) -> [String] {
        command.argv + (request["args"]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// Runs a command and returns its stdout.
    static func run(_ command: ExecCommand, name op: String, request: JSONObject, outputLimit: Int) async throws -> [UInt8] {
        let stdin = Array((request["stdin"]?.stringValue ?? "").utf8)
        let result = try await ProcessRunner.run(argv: argv(command, request: request), stdin: stdin, cwd: command.cwd,
                                                 timeoutSeconds: command.timeoutSeconds, outputLimit: outputLimit)
        if result.timedOut {
            throw CacheError(.timedOut, "exec \(op) did not finish within \(UpstreamClient.format(command.timeoutSeconds)) s")
        }
        if result.outputTooLarge { throw CacheError(.io, "exec \(op) wrote more than \(outputLimit) bytes") }
        if let signal = result.signal {
            throw CacheError(.io, "exec \(op) was killed by signal \(signal)" + Self.stderrSuffix(result.stderr))
        }
        if let status = result.exitStatus, status != 0 {
            throw CacheError(.io, "exec \(op) exited with status \(status)" + Self.stderrSuffix(result.stderr))
        }
        return result.stdout
    }

    /// `: <stderr>`, on one line and at most 500 characters (the engine scrubs credentials from it).
    static func stderrSuffix(_ stderr: [UInt8]) -> String {
        var text = String(decoding: stderr, as: UTF8.self)
            .unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : String($0) }.joined()
            .trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return "" }
        if text.count > 500 { text = String(text.prefix(500)) + "..." }
        return ": " + text
    }
}
