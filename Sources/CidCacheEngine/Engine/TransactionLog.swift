import CidCacheCore
import CidCacheUpstreams
import Foundation

/// The `errors` and `log` files: a JSON line per failure and per query transaction.
public final class TransactionLog: Sendable {
    /// `errors`: one line per failure.
    public let errors: EventLog
    /// `log`: one line per transaction.
    public let transactions: EventLog

    /// - Parameter truncate: start both empty (a new mount).
    init(dataDirectory: String, rotateBytes: Int, truncate: Bool) {
        errors = EventLog(path: dataDirectory + "/errors.jsonl", rotateBytes: rotateBytes, truncate: truncate)
        transactions = EventLog(path: dataDirectory + "/log.jsonl", rotateBytes: rotateBytes, truncate: truncate)
    }

    /// Appends a failure to `errors`.
    func recordError(namespace: String?, op: String?, requestCID: String?, error: CacheError, pid: Int32) {
        // Fields in canonical (sorted) order: the line is written without a sort.
        errors.append([
            ("errno", .string(error.errnoName)),
            ("message", .string(error.message)),
            ("namespace", namespace.map(JSON.string) ?? .null),
            ("op", op.map(JSON.string) ?? .null),
            ("pid", .number(Double(pid))),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
            ("status", error.status.map { .number(Double($0)) } ?? .null),
            ("time", .string(EventLog.timestamp())),
        ])
    }

    /// Appends a transaction to `log`; `sample` only for a sampled request's answer (§8.1).
    func logTransaction(namespace: String, op: String, requestCID: String?, cid: String?, outcome: Outcome,
                        started: Moment, bytes: Int, pid: Int32, sample: Int? = nil) {
        var fields: [(String, JSON)] = [
            ("bytes", .number(Double(bytes))),
            ("cid", cid.map(JSON.string) ?? .null),
            ("ms", .number(Double(started.elapsedMilliseconds))),
            ("namespace", .string(namespace)),
            ("op", .string(op)),
            ("outcome", .string(outcome.rawValue)),
            ("pid", .number(Double(pid))),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
        ]
        if let sample { fields.append(("sample", .number(Double(sample)))) }
        fields.append(("time", .string(EventLog.timestamp(started.date))))
        transactions.append(fields)
    }

    /// A failed transaction: its `errors` line and its `log` line.
    func fail(namespace: String, op: String, requestCID: String?, error: CacheError, started: Moment, pid: Int32) {
        recordError(namespace: namespace, op: op, requestCID: requestCID, error: error, pid: pid)
        logTransaction(namespace: namespace, op: op, requestCID: requestCID, cid: nil, outcome: .error,
                       started: started, bytes: 0, pid: pid)
    }

    /// Logs an answer's transaction once its body ends, whole or cut short.
    func logWhenComplete(_ answer: Answer, _ query: PreparedQuery, started: Moment, pid: Int32) {
        let namespace = query.namespace.name, op = query.op, requestCID = query.requestCID.string
        let log: @Sendable (CID, Int) -> Void = { cid, count in
            self.logTransaction(namespace: namespace, op: op, requestCID: requestCID, cid: cid.string,
                                outcome: answer.outcome, started: started, bytes: count, pid: pid, sample: answer.sample)
        }
        answer.body.whenEnded { result in
            switch result {
            case .success(let count):
                // Known for every stored answer; a bypassed one is hashed for its line alone.
                if let cid = answer.contentCID ?? answer.body.contentCID { return log(cid, count) }
                answer.body.whenComplete { if case .success(let bytes) = $0 { log(CID.forContent(bytes), count) } }
            case .failure(let error):
                self.fail(namespace: namespace, op: op, requestCID: requestCID, error: error, started: started, pid: pid)
            }
        }
    }
}
