import CidCacheCore
@testable import CidCacheUpstreams
import Foundation
import XCTest

final class ExecFamilyTests: XCTestCase {
    private let commands: [String: ExecCommand] = [
        "cat": ExecCommand(argv: ["/bin/cat"], ttl: 120),
        "sha": ExecCommand(argv: ["sha256sum", "--tag"], inputs: true),
        "fail": ExecCommand(argv: ["/bin/ls", "/nonexistent-cidcache"]),
        "slow": ExecCommand(argv: ["/bin/sleep", "5"], timeoutSeconds: 0.3),
        "count": ExecCommand(argv: ["/usr/bin/wc", "-c"]),
    ]
    private var family: ExecFamily { ExecFamily(commands: commands) }

    private func temporaryFile(_ contents: String) throws -> String {
        let path = NSTemporaryDirectory() + "cidcache-exec-\(UUID().uuidString)"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    // MARK: Requests

    func testValidationAndArgv() throws {
        let request = try object(#"{"args": ["-n", "x y", "$(rm -rf /)"], "stdin": "hi"}"#)
        XCTAssertNoThrow(try family[op: "cat"].validate(request))
        XCTAssertEqual(ExecFamily.argv(try XCTUnwrap(family.commands["cat"]), request: request), ["/bin/cat", "-n", "x y", "$(rm -rf /)"])
        XCTAssertEqual(ExecFamily.argv(try XCTUnwrap(family.commands["sha"]), request: [:]), ["sha256sum", "--tag"])
        XCTAssertNil(family.commands["other"])
        for text in [#"{"args": "x"}"#, #"{"args": [1]}"#, #"{"stdin": 3}"#, #"{"argv": ["/bin/sh"]}"#,
                     #"{"files": {"a": "relative"}}"#, #"{"files": {"a": 1}}"#, #"{"args": ["a\u0000b"]}"#] {
            XCTAssertThrowsError(try family[op: "cat"].validate(try object(text)), text) {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, text)
            }
        }
    }

    func testEnrichKeysTheCommandAndTheInputContent() throws {
        let path = try temporaryFile("first")
        let request = try object(#"{"args": [""# + path + #""], "files": {"input": ""# + path + #""}}"#)
        try family[op: "sha"].validate(request)
        let enriched = try family[op: "sha"].enriched(request)
        XCTAssertEqual(enriched["command"], ["sha256sum", "--tag"])
        XCTAssertEqual(enriched["input_cids"], ["input": .string(CID.forContent(Array("first".utf8)).string)])
        XCTAssertEqual(enriched["args"], request["args"])
        XCTAssertEqual(try family[op: "sha"].enriched(request), enriched)
        try "second".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(try family[op: "sha"].enriched(request)["input_cids"],
                       ["input": .string(CID.forContent(Array("second".utf8)).string)])
        // Commands without "inputs": true take no files; missing files are ENOENT.
        XCTAssertThrowsError(try family[op: "cat"].enriched(request)) {
            XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
        }
        XCTAssertThrowsError(try family[op: "sha"].enriched(try object(#"{"files": {"x": "/nonexistent/file"}}"#))) {
            XCTAssertEqual(($0 as? CacheError)?.kind, .notFound)
        }
        XCTAssertThrowsError(try family[op: "sha"].enriched(try object(#"{"files": {"x": "/tmp"}}"#))) {
            XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest)
        }
        // Not allow-listed: left alone (the fetch refuses it).
        XCTAssertEqual(try family[op: "other"].enriched(request), request)
    }

    // MARK: Runs

    private func run(_ op: String, _ text: String) async throws -> [UInt8] {
        let request = try family[op: op].enriched(try object(text))
        return try await family[op: op].fetch(request, endpoint: Endpoint(baseURL: "exec://localhost", credential: nil),
                                      client: UpstreamClient(bounds: UpstreamBounds(timeout: 1), responseLimitBytes: 1 << 20))
    }

    private func expectFailure(_ op: String, _ text: String, _ kind: CacheError.Kind, file: StaticString = #filePath, line: UInt = #line) async -> CacheError? {
        do {
            _ = try await run(op, text)
            XCTFail("\(op) succeeded", file: file, line: line)
        } catch let error as CacheError {
            XCTAssertEqual(error.kind, kind, error.message, file: file, line: line)
            return error
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        return nil
    }

    func testRunsWithoutAShell() async throws {
        let echoed = try await run("cat", #"{"stdin": "hello world"}"#)
        XCTAssertEqual(echoed, Array("hello world".utf8))
        let empty = try await run("cat", #"{"args": ["-"], "stdin": ""}"#)
        XCTAssertEqual(empty, [])
        let path = try temporaryFile("data")
        let digest = try await run("sha", #"{"args": [""# + path + #""]}"#)
        XCTAssertEqual(String(decoding: digest, as: UTF8.self),
                       "SHA256 (\(path)) = 3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7\n")
        // More stdin than a pipe holds, fed while stdout is drained.
        let big = String(repeating: "x", count: 300_000)
        let counted = try await run("count", #"{"stdin": ""# + big + #""}"#)
        XCTAssertEqual(String(decoding: counted, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "300000")
    }

    func testFailures() async throws {
        let failed = await expectFailure("fail", "{}", .io)
        XCTAssertEqual(failed?.message.hasPrefix("exec fail exited with status 2: "), true, failed?.message ?? "")
        XCTAssertEqual(failed?.message.contains("cannot access"), true)
        _ = await expectFailure("nope", "{}", .accessDenied)
        let started = Date()
        _ = await expectFailure("slow", "{}", .timedOut)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        let missing = ExecFamily(commands: ["ghost": ExecCommand(argv: ["/nonexistent/binary"])])
        do {
            _ = try await missing[op: "ghost"].fetch([:], endpoint: Endpoint(baseURL: "x", credential: nil),
                                        client: UpstreamClient(bounds: UpstreamBounds(timeout: 1), responseLimitBytes: 1))
            XCTFail("ran a missing binary")
        } catch let error as CacheError {
            XCTAssertEqual(error.kind, .io)
        }
    }

    func testStderrIsOneBoundedLine() {
        XCTAssertEqual(ExecFamily.stderrSuffix(Array("line one\nline two\n".utf8)), ": line one line two")
        XCTAssertEqual(ExecFamily.stderrSuffix([]), "")
        XCTAssertEqual(ExecFamily.stderrSuffix(Array(String(repeating: "e", count: 2000).utf8)).count, 2 + 500 + 3)
    }
}
