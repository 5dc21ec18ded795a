/// A parsed JSON text together with the caller's original bytes.
///
/// The upstream receives the caller's own bytes minus the dropped fields
/// (docs/REFERENCE.md §1.3), so fields are cut out of `bytes` rather than re-serialized.
public struct JSONDocument: Sendable {
    /// The parsed value.
    public let value: JSON
    /// The bytes it was parsed from.
    public let bytes: [UInt8]
    /// When `value` is an object, the byte range of each of its members, in
    /// member order: from the opening quote of the key to the end of the value.
    /// Empty otherwise.
    public let topLevelMemberRanges: [Range<Int>]

    /// `bytes` without the top-level members whose keys have exactly the code
    /// units of one of `keys` (an escaped spelling of a key counts as that key).
    ///
    /// Each removed member goes together with exactly one adjacent comma, so
    /// the result is still valid JSON; kept members keep their exact bytes. When
    /// nothing matches, or `value` is not an object, `bytes` come back unchanged.
    public func removingTopLevelMembers(_ keys: Set<String>) -> [UInt8] {
        guard let members = value.objectValue?.members, !keys.isEmpty,
              members.count == topLevelMemberRanges.count, !members.isEmpty else { return bytes }
        let doomed = JSONObject.codeUnitSet(keys)
        let kept = members.indices.filter { !doomed.contains(Array(members[$0].key.utf8)) }
        if kept.count == members.count { return bytes }

        let ranges = topLevelMemberRanges
        // Everything up to the first member: the opening brace and whitespace.
        var result = Array(bytes[..<ranges[0].lowerBound])
        var previousKept: Int?
        for index in kept {
            if previousKept != nil {
                // The separator that stood before this member: one comma and whitespace.
                result += bytes[ranges[index - 1].upperBound..<ranges[index].lowerBound]
            }
            result += bytes[ranges[index]]
            previousKept = index
        }
        // Everything after the last member: whitespace, the closing brace, whitespace.
        result += bytes[ranges[ranges.count - 1].upperBound...]
        return result
    }
}
