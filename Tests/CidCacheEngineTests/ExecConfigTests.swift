import CidCacheCore
@testable import CidCacheEngine
@testable import CidCacheUpstreams
import XCTest

/// The config's `exec` section and the namespace it configures.
final class ExecConfigTests: XCTestCase {
    private func config(_ text: String) throws -> CacheConfig {
        try CacheConfig.parse(Array(text.utf8), source: "test.json")
    }

    func testConfigSection() throws {
        let parsed = try config("""
            {"exec": {"copilot": {"argv": ["/usr/bin/env", "gh", "copilot", "suggest"], "ttl": 600, "timeout_s": 60, "inputs": true},
                      "scan.v2": {"argv": ["codeql"], "cwd": "/tmp"}}}
            """)
        XCTAssertEqual(parsed.execCommands["copilot"], ExecCommand(argv: ["/usr/bin/env", "gh", "copilot", "suggest"], ttl: 600,
                                                                  timeoutSeconds: 60, inputs: true))
        XCTAssertEqual(parsed.execCommands["scan.v2"], ExecCommand(argv: ["codeql"], cwd: "/tmp"))
        XCTAssertEqual(parsed.execCommands["scan.v2"]?.ttl, 600)
        XCTAssertEqual(parsed.execCommands["scan.v2"]?.inputs, false)

        for (text, fragment) in [
            (#"{"exec": []}"#, "exec must be an object"),
            (#"{"exec": {"bad name": {"argv": ["x"]}}}"#, "not a valid command name"),
            (#"{"exec": {"-x": {"argv": ["x"]}}}"#, "not a valid command name"),
            (#"{"exec": {"x": ["x"]}}"#, "exec.x must be an object"),
            (#"{"exec": {"x": {}}}"#, "exec.x.argv must be a non-empty list"),
            (#"{"exec": {"x": {"argv": []}}}"#, "exec.x.argv must be a non-empty list"),
            (#"{"exec": {"x": {"argv": ["a", 1]}}}"#, "exec.x.argv must be a non-empty list"),
            (#"{"exec": {"x": {"argv": [""]}}}"#, "exec.x.argv must be a non-empty list"),
            (#"{"exec": {"x": {"argv": ["a"], "ttl": -1}}}"#, "exec.x.ttl must be a non-negative integer"),
            (#"{"exec": {"x": {"argv": ["a"], "timeout_s": 0}}}"#, "exec.x.timeout_s must be a positive number"),
            (#"{"exec": {"x": {"argv": ["a"], "inputs": "yes"}}}"#, "exec.x.inputs must be true or false"),
            (#"{"exec": {"x": {"argv": ["a"], "cwd": "rel"}}}"#, "exec.x.cwd must be an absolute path"),
            (#"{"exec": {"x": {"argv": ["a"], "shell": true}}}"#, "unknown setting \"shell\""),
        ] {
            XCTAssertThrowsError(try config(text), text) { error in
                let message = (error as? CacheError)?.message ?? ""
                XCTAssertTrue(message.hasPrefix("test.json: ") && message.contains(fragment), message)
                XCTAssertEqual((error as? CacheError)?.kind, .invalidRequest)
            }
        }
    }

    func testNamespaceServesTheConfiguredCommands() throws {
        let parsed = try config(#"{"exec": {"b": {"argv": ["/bin/echo"]}, "a": {"argv": ["/bin/cat"], "ttl": 42}}}"#)
        let list = try NamespaceResolver.resolve(config: parsed, environment: [:], secret: [UInt8](repeating: 1, count: 32))
        let ns = try XCTUnwrap(list.first { $0.name == "exec" })
        let exec = try XCTUnwrap(ns.family as? ExecFamily)
        XCTAssertEqual(exec.operations, ["a", "b"])
        XCTAssertEqual(exec.operation(named: "a")?.defaultTTL([:]), 42)
        XCTAssertEqual(exec.operation(named: "b")?.defaultTTL([:]), 600)
        XCTAssertTrue(exec.isCredentialScoped)
        // Unknown names open (and fail with EACCES when asked); unsafe ones do not.
        XCTAssertNotNil(exec.operation(named: "not-configured"))
        for op in ["", "../x", "a/b", "a b", ".hidden", String(repeating: "a", count: 65)] {
            XCTAssertNil(exec.operation(named: op), op)
        }
    }
}
