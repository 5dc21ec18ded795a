import CidCacheCore

/// The mark every upstream call of this process carries (`x-cidcache-hop`),
/// so the HTTP front knows a request that came back to it: a namespace whose
/// upstream leads, by whatever way, to the same daemon's front.
public enum HopMark {
    /// The header's name; a request may carry several (one per daemon it passed).
    public static let header = "x-cidcache-hop"
    /// This process's mark: random, made once per process.
    public static let value: String = Hex.encode((0..<8).map { _ in UInt8.random(in: .min ... .max) })

    /// The marks of the daemons the request being answered passed through
    /// (its `x-cidcache-hop`), carried on by every upstream call made for it,
    /// so a loop through several daemons comes back to one that knows its own mark.
    @TaskLocal public static var carried: [String] = []

    /// The header value of an upstream call: the carried marks, then this process's.
    public static var outgoing: String { (carried + [value]).joined(separator: ", ") }

    /// The marks in a request's `x-cidcache-hop` values (each may list several, comma-separated).
    public static func marks(in values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) } }.filter { !$0.isEmpty }
    }

    /// Whether a request's `x-cidcache-hop` values hold this process's own mark.
    public static func isOwn(_ values: [String]) -> Bool {
        marks(in: values).contains(value)
    }
}
