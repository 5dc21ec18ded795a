import CidCacheCore

/// The kinds of request fields the infrastructure families accept.
enum FieldKind {
    case string, bool, stringArray, object, stringOrObject
    case int(ClosedRange<Int>)

    /// Refuses unknown fields, missing required ones and ill-typed ones (EINVAL).
    static func check(_ request: JSONObject, fields: [String: FieldKind], required: [String], op: String) throws {
        for key in request.keys where fields[key] == nil {
            throw CacheError(.invalidRequest, "\(op): unknown field \"\(key)\" (accepted: \(fields.keys.sorted().joined(separator: ", ")))")
        }
        for key in required where request[key] == nil {
            throw CacheError(.invalidRequest, "\(op): \"\(key)\" is required")
        }
        for (key, value) in request.members {
            let ok: Bool
            switch fields[key]! {
            case .string: ok = value.stringValue != nil
            case .bool: ok = value.boolValue != nil
            case .object: ok = value.objectValue != nil
            case .stringOrObject: ok = value.stringValue != nil || value.objectValue != nil
            case .stringArray: ok = value.arrayValue?.allSatisfy { $0.stringValue != nil } ?? false
            case .int(let range): ok = value.intValue.map(range.contains) ?? false
            }
            guard ok else { throw CacheError(.invalidRequest, "\(op): \"\(key)\" must be \(fields[key]!.description)") }
        }
    }

    var description: String {
        switch self {
        case .string: return "a string"
        case .bool: return "true or false"
        case .object: return "an object"
        case .stringOrObject: return "a string or an object"
        case .stringArray: return "a list of strings"
        case .int(let range): return "an integer from \(range.lowerBound) to \(range.upperBound)"
        }
    }
}
