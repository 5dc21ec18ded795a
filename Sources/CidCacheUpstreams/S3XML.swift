import CidCacheCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XMLCoder

/// One page of ListObjectsV2 (`<ListBucketResult>`): the elements the JSON
/// answer keeps, each as the text S3 sent (absent elements are nil).
struct ListBucketResult: Decodable, Sendable {
    /// One `<Contents>`: a stored object.
    struct Object: Decodable, Sendable {
        var key: String?
        var size: String?
        var eTag: String?
        var lastModified: String?
        var storageClass: String?

        enum CodingKeys: String, CodingKey {
            case key = "Key", size = "Size", eTag = "ETag", lastModified = "LastModified", storageClass = "StorageClass"
        }

        init(from decoder: any Decoder) throws {
            let element = try decoder.container(keyedBy: CodingKeys.self)
            key = try element.text(.key)
            size = try element.text(.size)
            eTag = try element.text(.eTag)
            lastModified = try element.text(.lastModified)
            storageClass = try element.text(.storageClass)
        }
    }

    /// One `<CommonPrefixes>`: a prefix rolled up by the delimiter.
    struct CommonPrefix: Decodable, Sendable {
        var prefix: String?

        enum CodingKeys: String, CodingKey { case prefix = "Prefix" }

        init(from decoder: any Decoder) throws {
            prefix = try decoder.container(keyedBy: CodingKeys.self).text(.prefix)
        }
    }

    var contents: [Object]?
    var commonPrefixes: [CommonPrefix]?
    var isTruncated: String?
    var nextContinuationToken: String?

    enum CodingKeys: String, CodingKey {
        case contents = "Contents", commonPrefixes = "CommonPrefixes", isTruncated = "IsTruncated"
        case nextContinuationToken = "NextContinuationToken"
    }

    init(from decoder: any Decoder) throws {
        let element = try decoder.container(keyedBy: CodingKeys.self)
        contents = try element.decodeIfPresent([Object].self, forKey: .contents)
        commonPrefixes = try element.decodeIfPresent([CommonPrefix].self, forKey: .commonPrefixes)
        isTruncated = try element.text(.isTruncated)
        nextContinuationToken = try element.text(.nextContinuationToken)
    }
}

/// S3's error document: `<Error><Code>…</Code><Message>…</Message></Error>`.
struct S3ErrorBody: Decodable, Sendable {
    var code: String?
    var message: String?

    enum CodingKeys: String, CodingKey { case code = "Code", message = "Message" }

    init(from decoder: any Decoder) throws {
        let element = try decoder.container(keyedBy: CodingKeys.self)
        code = try element.text(.code)
        message = try element.text(.message)
    }
}

extension KeyedDecodingContainer {
    /// A child element's text: "" for an empty one (`<ETag/>`, which XMLCoder
    /// reads as nil), nil only when there is no such element.
    func text(_ key: Key) throws -> String? {
        guard contains(key) else { return nil }
        return try decodeIfPresent(String.self, forKey: key) ?? ""
    }
}

/// S3's XML answers read with XMLCoder: element names without their
/// namespace prefix, text exactly as sent (entities and CDATA decoded,
/// whitespace kept), external entities never resolved. Text and CDATA mixed
/// in one element are not joined (XMLCoder keeps them apart); S3 sends no CDATA.
public enum S3XML {
    /// The `<Code>` and `<Message>` of S3's `<Error>` document; nils when `body` is not one.
    public static func errorDocument(_ body: [UInt8]) -> (code: String?, message: String?) {
        guard let document = try? read(S3ErrorBody.self, from: body) else { return (nil, nil) }
        return (document.root == "Error" ? document.value.code : nil, document.value.message)
    }

    /// The name of the document's root element and the document as `T`;
    /// `.io` when the bytes are not well-formed XML.
    static func read<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(CacheError) -> (root: String, value: T) {
        if let offset = emptyProcessingInstruction(in: bytes) {
            throw CacheError(.io, "malformed XML from the upstream: processing instruction without data at byte \(offset)")
        }
        let data = Data(bytes)
        let decoder = XMLDecoder(trimValueWhitespaces: false, removeWhitespaceElements: true)
        decoder.shouldProcessNamespaces = true
        let value: T
        do {
            value = try decoder.decode(type, from: data)
        } catch {
            throw CacheError(.io, "malformed XML from the upstream: \(error)")
        }
        guard let root = RootElement.name(in: data) else { throw CacheError(.io, "malformed XML from the upstream: no root element") }
        return (root, value)
    }
}

extension S3XML {
    /// Where `<?name?>` (a processing instruction with no data) first appears:
    /// the XMLParser of swift-corelibs-foundation, under XMLCoder on Linux,
    /// dereferences a null pointer on one and takes the process down, so such a
    /// document is refused before parsing (S3 never sends one; one inside a
    /// comment or CDATA is refused too).
    static func emptyProcessingInstruction(in bytes: [UInt8]) -> Int? {
        let question = UInt8(ascii: "?"), open = UInt8(ascii: "<")
        var index = 0
        while index + 1 < bytes.count {
            defer { index += 1 }
            guard bytes[index] == open, bytes[index + 1] == question else { continue }
            var end = index + 2
            while end < bytes.count, ![question, 0x20, 0x09, 0x0A, 0x0D].contains(bytes[end]) { end += 1 }
            if end > index + 2, end + 1 < bytes.count, bytes[end] == question, bytes[end + 1] == UInt8(ascii: ">") {
                return index
            }
        }
        return nil
    }
}

/// Reads a document only as far as its first element, for its name (XMLCoder
/// decodes the root's content, not its name).
private final class RootElement: NSObject, XMLParserDelegate {
    private var name: String?

    static func name(in data: Data) -> String? {
        let reader = RootElement()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.delegate = reader
        _ = parser.parse()  // false when aborted at the first element
        return reader.name
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        name = elementName
        parser.abortParsing()
    }
}
