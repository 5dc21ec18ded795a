// The engine in-process, without FUSE: what keying and a cached lookup cost,
// so the mount's figures can be read as "engine + file interface".
//
//   swift run -c release cidcache-bench [--sizes 1000,100000] [--iterations 20000] [--json PATH]
//
// Prints p50/p99 in microseconds for:
//   prepare         parse + JCS + CID of a chat request (docs/REFERENCE.md §1)
//   index lookup    CacheEngine.indexedEntry of a random stored entry (SQLite, no memory of lookups)
//   answer (hit)    CacheEngine.answer of a random stored entry: live-entry check, body read, hit counted
// for each store size; stores are filled directly through CacheEngine.seed (no upstream).
import CidCacheCore
import CidCacheEngine
import Dispatch
import Foundation

struct Options {
    var sizes = [1_000, 100_000]
    var iterations = 20_000
    var jsonPath: String?

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            switch flag {
            case "--sizes": sizes = (rest.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--iterations": iterations = Int(rest.popFirst() ?? "") ?? iterations
            case "--json": jsonPath = rest.popFirst()
            default:
                FileHandle.standardError.write(Data("usage: cidcache-bench [--sizes N,N] [--iterations N] [--json PATH]\n".utf8))
                exit(2)
            }
        }
    }
}

/// Microseconds of each call of `body`, after a 5 % warm-up.
func measure(_ iterations: Int, _ body: (Int) throws -> Void) rethrows -> (p50: Double, p99: Double) {
    for index in 0..<max(1, iterations / 20) { try body(index) }
    var samples = [Double]()
    samples.reserveCapacity(iterations)
    for index in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        try body(index)
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
    }
    samples.sort()
    return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
}

func chatRequest(_ index: Int) -> [UInt8] {
    Array(#"{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"question number \#(index): what is a content identifier?"}]}"#.utf8)
}

let options = Options(CommandLine.arguments)
let answerBytes = Array(#"{"id":"chatcmpl-bench","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"A hash-derived name for bytes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":8,"total_tokens":38}}"#.utf8)
var results: [[String: Any]] = []

@MainActor
func report(_ name: String, _ size: Int?, _ figures: (p50: Double, p99: Double)) {
    let label = size.map { "\(name) @ \($0)" } ?? name
    print(label.padding(toLength: 34, withPad: " ", startingAt: 0)
          + String(format: "%10.2f %10.2f", figures.p50, figures.p99))
    results.append(["name": name, "entries": size as Any, "p50_us": figures.p50, "p99_us": figures.p99])
}

print("operation".padding(toLength: 34, withPad: " ", startingAt: 0) + "    p50 us     p99 us")
for size in options.sizes {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cidcache-bench-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let engine = try CacheEngine(dataDirectory: directory, config: CacheConfig(),
                                 environment: ["CIDCACHE_OPENAI_URL": "http://127.0.0.1:9", "CIDCACHE_OPENAI_KEY": "sk-bench"],
                                 truncateLogs: true)
    var prepared: [PreparedQuery] = []
    let fillStart = Date()
    var batch: [PreparedQuery] = []
    for index in 0..<size {
        let query = try engine.prepare(namespace: "openai", op: "chat.completions", body: chatRequest(index))
        batch.append(query)
        if batch.count == 1_000 || index == size - 1 {
            try engine.seed(batch, answer: answerBytes, ttl: 86_400, tokens: 38, fetchMs: 500)
            batch.removeAll(keepingCapacity: true)
        }
        if prepared.count < options.iterations { prepared.append(query) }
    }
    FileHandle.standardError.write(Data(String(format: "filled %d entries in %.1f s\n", size, Date().timeIntervalSince(fillStart)).utf8))

    if size == options.sizes.first {
        let bodies = (0..<1000).map(chatRequest)
        report("prepare (parse+JCS+CID)", nil, try measure(options.iterations) { index in
            _ = try engine.prepare(namespace: "openai", op: "chat.completions", body: bodies[index % bodies.count])
        })
    }
    var generator = SystemRandomNumberGenerator()
    let order = (0..<options.iterations).map { _ in Int.random(in: 0..<prepared.count, using: &generator) }
    report("index lookup", size, try measure(options.iterations) { index in
        let query = prepared[order[index]]
        let entry = try engine.indexedEntry(query)
        precondition(entry != nil)
    })
    // A task off the main actor, as a front's callers are; its figures come back as its value.
    let hit = await Task.detached { [prepared] in
        var samples = [Double]()
        for (position, index) in order.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            let answer = try! await engine.answer(prepared[index])
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
            precondition(answer.outcome == .hit)
            if position >= order.count / 20 { samples.append(elapsed) }
        }
        samples.sort()
        return (p50: samples[samples.count / 2], p99: samples[min(samples.count - 1, samples.count * 99 / 100)])
    }.value
    report("answer (hit)", size, hit)
}

if let path = options.jsonPath {
    let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}
