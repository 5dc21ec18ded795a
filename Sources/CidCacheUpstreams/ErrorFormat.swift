public import CidCacheCore

/// The JSON error body a family's SDK reads, for failures the HTTP front
/// words itself (no upstream answered, or its answer was not kept).
public enum ErrorFormat: Sendable, Equatable {
    /// `{"error": {"message", "type", "param", "code"}}` (OpenAI and the servers of its API).
    case openAI
    /// `{"type": "error", "error": {"type", "message"}}`.
    case anthropic
    /// `{"error": "message"}` (Ollama, the HF Hub, and namespaces without routes of their own).
    case message
    /// `{"message", "documentation_url"}`.
    case gitHub
    /// `{"error": {"code", "message", "status"}}` (Google's APIs).
    case google

    /// The body of `error` answered with `status`.
    public func body(for error: CacheError, status: Int) -> [UInt8] {
        let message = JSON.string("cidcache: \(error.errnoName): \(error.message)")
        let document: JSON
        switch self {
        case .openAI:
            document = ["error": .object(["message": message, "type": .string(Self.openAIType(status)),
                                          "param": nil, "code": .string(error.errnoName)])]
        case .anthropic:
            document = ["type": "error", "error": .object(["type": .string(Self.anthropicType(status)), "message": message])]
        case .message:
            document = ["error": message]
        case .gitHub:
            document = ["message": message, "documentation_url": "https://docs.github.com/rest"]
        case .google:
            document = ["error": .object(["code": .number(Double(status)), "message": message,
                                          "status": .string(Self.googleStatus(status))])]
        }
        return CanonicalJSON.serialize(document)
    }

    /// OpenAI's error `type` for a status.
    static func openAIType(_ status: Int) -> String {
        switch status {
        case 401, 403: return "authentication_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    /// Google's canonical error `status` for an HTTP status.
    static func googleStatus(_ status: Int) -> String {
        switch status {
        case 400: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 413: return "INVALID_ARGUMENT"
        case 429: return "RESOURCE_EXHAUSTED"
        case 503: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        default: return "INTERNAL"
        }
    }

    /// Anthropic's error `type` for a status (its API reference's table).
    static func anthropicType(_ status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 500...: return "api_error"
        default: return "invalid_request_error"
        }
    }
}
