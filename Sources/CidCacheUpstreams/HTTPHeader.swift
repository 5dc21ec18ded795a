/// Header lists as the families see them: (name, value) pairs in order.
public enum HTTPHeader {
    /// The first value of a header, its name matched without case.
    public static func value(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}

extension UpstreamHTTPRequest {
    /// The first value of one of the request's headers.
    public func header(_ name: String) -> String? {
        HTTPHeader.value(name, in: headers)
    }
}

extension String {
    fileprivate func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && lowercased() == other.lowercased()
    }
}
