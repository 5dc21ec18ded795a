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
        errors.append([
            ("time", .string(EventLog.timestamp())),
            ("namespace", namespace.map(JSON.string) ?? .null),
            ("op", op.map(JSON.string) ?? .null),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
            ("errno", .string(error.errnoName)),
            ("status", error.status.map { .number(Double($0)) } ?? .null),
            ("message", .string(error.message)),
            ("pid", .number(Double(pid))),
        ])
    }

    /// Appends a transaction to `log`.
    func logTransaction(namespace: String, op: String, requestCID: String?, cid: String?, outcome: Outcome,
                        started: Date, bytes: Int, pid: Int32) {
        transactions.append([
            ("time", .string(EventLog.timestamp(started))),
            ("namespace", .string(namespace)),
            ("op", .string(op)),
            ("request_cid", requestCID.map(JSON.string) ?? .null),
            ("cid", cid.map(JSON.string) ?? .null),
            ("outcome", .string(outcome.rawValue)),
            ("ms", .number((Date().timeIntervalSince(started) * 1000).rounded())),
            ("bytes", .number(Double(bytes))),
            ("pid", .number(Double(pid))),
        ])
    }

    /// A failed transaction: its `errors` line and its `log` line.
    func fail(namespace: String, op: String, requestCID: String?, error: CacheError, started: Date, pid: Int32) {
        recordError(namespace: namespace, op: op, requestCID: requestCID, error: error, pid: pid)
        logTransaction(namespace: namespace, op: op, requestCID: requestCID, cid: nil, outcome: .error,
                       started: started, bytes: 0, pid: pid)
    }

    /// Logs an answer's transaction once its body ends, whole or cut short.
    func logWhenComplete(_ answer: Answer, _ query: PreparedQuery, started: Date, pid: Int32) {
        let namespace = query.namespace.name, op = query.op, requestCID = query.requestCID.string
        answer.body.whenComplete { result in
            switch result {
            case .success(let bytes):
                self.logTransaction(namespace: namespace, op: op, requestCID: requestCID,
                                    cid: (answer.contentCID ?? answer.body.contentCID ?? CID.forContent(bytes)).string,
                                    outcome: answer.outcome, started: started, bytes: bytes.count, pid: pid)
            case .failure(let error):
                self.fail(namespace: namespace, op: op, requestCID: requestCID, error: error, started: started, pid: pid)
            }
        }
    }
}
