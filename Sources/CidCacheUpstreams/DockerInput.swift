import CidCacheCore

/// Checks of Docker inputs the Engine would refuse with a 500 (which reads as
/// a server fault and is retried): refused here instead, EINVAL, no call.
enum DockerInput {
    /// An image reference (`[registry/]path[:tag][@digest]`) or an image id:
    /// the path's components are lower-case, as the distribution grammar says.
    static func checkImageReference(_ name: String, field: String, op: String) throws {
        var rest = Substring(name)
        if let at = rest.firstIndex(of: "@") { rest = rest[..<at] }
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") { rest = rest[..<colon] }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        if components.count > 1, let first = components.first,
           first.contains(".") || first.contains(":") || first == "localhost" {
            components.removeFirst()  // a registry host, whose case does not matter
        }
        for component in components where !isPathComponent(component) {
            throw CacheError(.invalidRequest, "\(op): \"\(field)\" is not a valid image reference "
                             + "(path components are lower-case letters and digits, joined by '.', '_', '__' or dashes)")
        }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    static func isPathComponent(_ component: Substring) -> Bool {
        var separator: [Character] = []
        for character in component {
            if character.isASCII && (character.isLowercase || character.isNumber) {
                guard separator.isEmpty || separator == ["."] || separator == ["_"] || separator == ["_", "_"]
                        || separator.allSatisfy({ $0 == "-" }) else { return false }
                separator = []
            } else if ".-_".contains(character) {
                separator.append(character)
            } else {
                return false
            }
        }
        return !component.isEmpty && separator.isEmpty && component.first.map { ".-_".contains($0) } == false
    }

    /// `filters`: an object of string lists (or of `{"value": true}` maps), or that object as JSON text.
    static func checkFilters(_ value: JSON, op: String) throws {
        let failure = CacheError(.invalidRequest, #"\#(op): "filters" must be an object of string lists, e.g. {"label": ["a=b"]}"#)
        var filters = value.objectValue
        if let text = value.stringValue {
            filters = (try? CanonicalJSON.parse(Array(text.utf8)))?.objectValue
        }
        guard let filters else { throw failure }
        for (_, condition) in filters.members {
            if let list = condition.arrayValue, list.allSatisfy({ $0.stringValue != nil }) { continue }
            if let map = condition.objectValue, map.members.allSatisfy({ $0.value.boolValue != nil }) { continue }
            throw failure
        }
    }

    /// The query parameters of an Engine API call, from the request's members.
    struct Query {
        let request: JSONObject
        var items: [(String, String)] = []

        mutating func append(_ item: (String, String)) { items.append(item) }
        mutating func flag(_ key: String) { if let b = request[key]?.boolValue { items.append((key, b ? "true" : "false")) } }
        mutating func number(_ key: String) { if let n = request[key]?.intValue { items.append((key, String(n))) } }
        /// `filters` as sent, or as JSON text when given as an object.
        mutating func filters() {
            if let text = request["filters"]?.stringValue { items.append(("filters", text)) }
            if let object = request["filters"]?.objectValue {
                items.append(("filters", String(decoding: CanonicalJSON.serialize(.object(object)), as: UTF8.self)))
            }
        }
    }
}

extension JSONObject {
    /// A member's string, empty when it is not one (for members `validate` checked).
    func string(_ key: String) -> String { self[key]?.stringValue ?? "" }
}
