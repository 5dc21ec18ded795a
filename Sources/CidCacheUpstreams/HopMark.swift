import CidCacheCore

/// The mark every upstream call of this process carries (`x-cidcache-hop`),
/// so the HTTP front knows a request that came back to it: a namespace whose
/// upstream leads, by whatever way, to the same daemon's front.
public enum HopMark {
    /// The header's name; a request may carry several (one per daemon it passed).
    public static let header = "x-cidcache-hop"
    /// This process's mark: random, made once per process.
    public static let value: String = Hex.encode((0..<8).map { _ in UInt8.random(in: .min ... .max) })

    /// Whether a request's `x-cidcache-hop` values (each may list several, comma-separated) hold this process's own mark.
    public static func isOwn(_ values: [String]) -> Bool {
        values.contains { $0.split(separator: ",").contains { $0.filter { !$0.isWhitespace } == value } }
    }
}
