/// RFC 8288 `Link` headers of paged answers (hf, codeql, docker registries),
/// with one host policy: a page is always asked of the upstream that answered.
enum LinkHeader {
    /// The `rel="next"` target of an RFC 8288 `Link` header, if any.
    static func next(_ header: String?) -> String? {
        guard let header else { return nil }
        for link in header.split(separator: ",") {
            let parts = link.split(separator: ";").map { trimmed($0, extra: []) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            let isNext = parts.dropFirst().contains { parameter in
                let pair = parameter.split(separator: "=", maxSplits: 1).map { trimmed($0, extra: ["\""]) }
                return pair.count == 2 && pair[0].lowercased() == "rel"
                    && pair[1].split(separator: " ").contains { $0.lowercased() == "next" }
            }
            if isNext { return String(target.dropFirst().dropLast()) }
        }
        return nil
    }

    /// `text` without leading and trailing blanks (and `extra` characters).
    private static func trimmed(_ text: some StringProtocol, extra: Set<Character>) -> String {
        let drop: (Character) -> Bool = { $0 == " " || $0 == "\t" || extra.contains($0) }
        guard let first = text.firstIndex(where: { !drop($0) }), let last = text.lastIndex(where: { !drop($0) }) else { return "" }
        return String(text[first...last])
    }

    /// The next page of `current`: its own path with the query of the `next`
    /// link. Only the query is taken from the link, so a page is always asked
    /// of the configured upstream (a mirror's links often name the origin
    /// host) and the credential never goes anywhere else.
    static func nextPage(of current: String, link: String) -> String? {
        guard let query = link.firstIndex(of: "?").map({ link[link.index(after: $0)...] }), !query.isEmpty else { return nil }
        let path = current.firstIndex(of: "?").map { String(current[..<$0]) } ?? current
        return path + "?" + query
    }
}
