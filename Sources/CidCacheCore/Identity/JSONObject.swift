/// The members of a JSON object, in order.
///
/// Keys are told apart by their exact code units. Swift's `String ==` treats
/// canonically equivalent strings as equal (`"\u{C5}"` and `"A\u{30A}"`), but
/// JSON and RFC 8785 see two different keys there, so every lookup here compares
/// UTF-8 bytes instead, which for valid Unicode is the same as comparing UTF-16
/// code units.
public struct JSONObject: Sendable, Equatable {
    /// The members in document order. The parser never produces duplicate
    /// keys; a value built by hand should not hold any either.
    public var members: [(key: String, value: JSON)]

    /// An object holding `members` in the order given.
    public init(_ members: [(key: String, value: JSON)] = []) {
        self.members = members
    }

    /// The number of members.
    public var count: Int { members.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { members.isEmpty }

    /// The keys in document order.
    public var keys: [String] { members.map(\.key) }

    /// The position of the member whose key has exactly the code units of `key`.
    public func index(forKey key: String) -> Int? {
        members.firstIndex { JSONObject.sameKey($0.key, key) }
    }

    /// Whether a member's key has exactly the code units of `key`.
    public func contains(key: String) -> Bool {
        index(forKey: key) != nil
    }

    /// The value of the member whose key has exactly the code units of `key`.
    ///
    /// Setting a value replaces that member in place or appends a new one;
    /// setting nil removes it.
    public subscript(key: String) -> JSON? {
        get {
            index(forKey: key).map { members[$0].value }
        }
        set {
            switch (index(forKey: key), newValue) {
            case (let index?, let value?): members[index].value = value
            case (let index?, nil): members.remove(at: index)
            case (nil, let value?): members.append((key: key, value: value))
            case (nil, nil): break
            }
        }
    }

    /// This object without the members whose keys have exactly the code units
    /// of one of `keys`; the others keep their order.
    ///
    /// A `Set<String>` cannot hold two canonically equivalent keys, and only
    /// the spelling it holds is removed, never an equivalent one.
    public func removing(keys: Set<String>) -> JSONObject {
        let doomed = JSONObject.codeUnitSet(keys)
        return JSONObject(members.filter { !doomed.contains(Array($0.key.utf8)) })
    }

    /// Equality as JSON sees it: the same keys (by exact code units) holding
    /// equal values, irrespective of member order. Two objects are equal exactly
    /// when their RFC 8785 serializations are.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        let left = lhs.membersInCanonicalOrder, right = rhs.membersInCanonicalOrder
        for (l, r) in zip(left, right) where !sameKey(l.key, r.key) || l.value != r.value {
            return false
        }
        return true
    }

    /// Whether two keys have exactly the same code units.
    static func sameKey(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// The UTF-8 bytes of each key, for code-unit exact membership tests.
    static func codeUnitSet(_ keys: Set<String>) -> Set<[UInt8]> {
        Set(keys.map { Array($0.utf8) })
    }

    /// The members sorted by the UTF-16 code units of their keys, as RFC 8785
    /// section 3.2.3 orders them; members with the same key keep their order.
    var membersInCanonicalOrder: [(key: String, value: JSON)] {
        if isInCanonicalOrder { return members }
        let sortKeys = members.enumerated().map { (utf16: Array($0.element.key.utf16), position: $0.offset) }
        let order = sortKeys.sorted { a, b in
            if a.utf16 == b.utf16 { return a.position < b.position }
            return a.utf16.lexicographicallyPrecedes(b.utf16)
        }
        return order.map { members[$0.position] }
    }

    /// Whether the keys already ascend in UTF-16 order, checked without
    /// copying them where that is cheap: keys below U+E000 (all of ASCII) sort
    /// the same by UTF-8 bytes as by UTF-16 code units.
    private var isInCanonicalOrder: Bool {
        var previous: String?
        for member in members {
            defer { previous = member.key }
            guard let before = previous else { continue }
            let simple = !before.utf8.contains { $0 >= 0xEE } && !member.key.utf8.contains { $0 >= 0xEE }
            let ascending = simple ? before.utf8.lexicographicallyPrecedes(member.key.utf8)
                                   : before.utf16.lexicographicallyPrecedes(member.key.utf16)
            guard ascending else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// An object whose members keep the literal's order.
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}
