import CidCacheCore

/// The one vocabulary families check requests with: every refusal is EINVAL
/// and names the operation or the field.
enum RequestFields {
    /// Refuses a request that lacks one of `fields`.
    static func require(_ fields: [String], in request: JSONObject, op: String) throws {
        for field in fields where request[field] == nil {
            throw CacheError(.invalidRequest, "\(op) requires the field \"\(field)\"")
        }
    }

    /// The `model`: present and a string.
    @discardableResult
    static func model(_ request: JSONObject, op: String) throws -> String {
        try require(["model"], in: request, op: op)
        guard let model = request["model"]?.stringValue else {
            throw CacheError(.invalidRequest, "\"model\" must be a string")
        }
        return model
    }

    /// The string a required field holds: present, a string, not empty.
    static func string(_ request: JSONObject, _ field: String, op: String) throws -> String {
        try require([field], in: request, op: op)
        guard let text = try optionalString(request, field) else {
            throw CacheError(.invalidRequest, "\"\(field)\" must be a non-empty string")
        }
        return text
    }

    /// The string an optional field holds, nil when absent or null; refused when not a non-empty string.
    static func optionalString(_ request: JSONObject, _ field: String) throws -> String? {
        guard let value = request[field], !value.isNull else { return nil }
        guard let text = value.stringValue, !text.isEmpty else {
            throw CacheError(.invalidRequest, "\"\(field)\" must be a non-empty string")
        }
        return text
    }

    /// Refuses a field of the wrong kind; absent is fine.
    static func check(_ request: JSONObject, _ field: String, is kind: FieldKind) throws {
        guard let value = request[field], !kind.accepts(value) else { return }
        throw CacheError(.invalidRequest, "\"\(field)\" must be \(kind.description)")
    }

    /// Refuses unknown fields, missing required ones and ill-typed ones.
    static func check(_ request: JSONObject, fields: [String: FieldKind], required: [String], op: String) throws {
        for key in request.keys where fields[key] == nil {
            throw CacheError(.invalidRequest, "\(op): unknown field \"\(key)\" (accepted: \(fields.keys.sorted().joined(separator: ", ")))")
        }
        for key in required where request[key] == nil {
            throw CacheError(.invalidRequest, "\(op): \"\(key)\" is required")
        }
        for (key, value) in request.members where !fields[key]!.accepts(value) {
            throw CacheError(.invalidRequest, "\(op): \"\(key)\" must be \(fields[key]!.description)")
        }
    }
}

/// The kinds of request fields.
enum FieldKind {
    case string, bool, integer, array, stringArray, object, stringOrObject
    case int(ClosedRange<Int>)

    func accepts(_ value: JSON) -> Bool {
        switch self {
        case .string: return value.stringValue != nil
        case .bool: return value.boolValue != nil
        case .integer: return value.intValue != nil
        case .array: return value.arrayValue != nil
        case .object: return value.objectValue != nil
        case .stringOrObject: return value.stringValue != nil || value.objectValue != nil
        case .stringArray: return value.arrayValue?.allSatisfy { $0.stringValue != nil } ?? false
        case .int(let range): return value.intValue.map(range.contains) ?? false
        }
    }

    var description: String {
        switch self {
        case .string: return "a string"
        case .bool: return "true or false"
        case .integer: return "an integer"
        case .array: return "an array"
        case .object: return "an object"
        case .stringOrObject: return "a string or an object"
        case .stringArray: return "a list of strings"
        case .int(let range): return "an integer from \(range.lowerBound) to \(range.upperBound)"
        }
    }
}
