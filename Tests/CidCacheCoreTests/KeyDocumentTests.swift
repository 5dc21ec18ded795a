import XCTest
@testable import CidCacheCore

final class KeyDocumentTests: XCTestCase {
    /// The key document of docs/REFERENCE.md §2.2 and its request CID.
    let canonicalDocument = #"{"namespace":"openai","op":"chat.completions","request":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","temperature":0}}"#
    let requestCID = "bagaaieraowrj4ln7x6wnmjm6ixbtwehijrhokrzxegzqaozk2fw2rkrbxtya"

    func testBuildsTheSpecVector() throws {
        let request = try parsed(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0}"#)
        let bytes = KeyDocument.canonicalBytes(namespace: "openai", op: "chat.completions", request: request)
        XCTAssertEqual(text(bytes), canonicalDocument)
        XCTAssertEqual(KeyDocument.requestCID(namespace: "openai", op: "chat.completions", request: request).string, requestCID)
        XCTAssertEqual(CID.forKeyDocument(bytes).string, requestCID)
    }

    func testNonCanonicalSpellingsGiveTheSameBytesAndCID() throws {
        let spellings = [
            """
            {
              "request": {
                "temperature": 0.0,
                "model": "gpt\\u002d4o\\u002Dmini",
                "messages": [ { "role": "user", "content": "\\u0068i" } ]
              },
              "op": "chat.completions",
              "namespace": "openai"
            }
            """,
            #"{"op":"chat.completions","namespace":"\u006fpenai","request":{"temperature":-0,"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini"}}"#,
            #"{"namespace":"openai","op":"chat.completions","request":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o-mini","temperature":0E5}}"#,
        ]
        for spelling in spellings {
            let bytes = try CanonicalJSON.canonicalize(utf8(spelling))
            XCTAssertEqual(text(bytes), canonicalDocument, spelling)
            XCTAssertEqual(CID.forKeyDocument(bytes).string, requestCID, spelling)
            let document = try parsed(spelling)
            let rebuilt = KeyDocument.requestCID(
                namespace: try XCTUnwrap(document["namespace"]?.stringValue),
                op: try XCTUnwrap(document["op"]?.stringValue),
                request: try XCTUnwrap(document["request"]))
            XCTAssertEqual(rebuilt.string, requestCID)
        }
    }

    func testEveryFieldChangesTheKey() throws {
        let request = try parsed(#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0}"#)
        let base = KeyDocument.requestCID(namespace: "openai", op: "chat.completions", request: request)
        XCTAssertNotEqual(KeyDocument.requestCID(namespace: "openai2", op: "chat.completions", request: request), base)
        XCTAssertNotEqual(KeyDocument.requestCID(namespace: "openai", op: "embeddings", request: request), base)
        var changed = try XCTUnwrap(request.objectValue)
        changed["temperature"] = 0.5
        XCTAssertNotEqual(KeyDocument.requestCID(namespace: "openai", op: "chat.completions", request: .object(changed)), base)
        changed["temperature"] = 0
        XCTAssertEqual(KeyDocument.requestCID(namespace: "openai", op: "chat.completions", request: .object(changed)), base)
        changed["seed"] = 1
        XCTAssertNotEqual(KeyDocument.requestCID(namespace: "openai", op: "chat.completions", request: .object(changed)), base)
    }

    func testKeyDocumentShape() {
        let value = KeyDocument.value(namespace: "ns", op: "op", request: ["b": 1, "a": 2])
        XCTAssertEqual(value.objectValue?.keys, ["namespace", "op", "request"])
        XCTAssertEqual(text(KeyDocument.canonicalBytes(namespace: "ns", op: "op", request: ["b": 1, "a": 2])),
                       #"{"namespace":"ns","op":"op","request":{"a":2,"b":1}}"#)
        XCTAssertEqual(text(KeyDocument.canonicalBytes(namespace: "n\"s", op: "o\np", request: nil)),
                       #"{"namespace":"n\"s","op":"o\np","request":null}"#)
    }

    func testTheKeyDocumentIsWhatTheCIDHashes() throws {
        let bytes = KeyDocument.canonicalBytes(namespace: "hf", op: "models", request: ["id": "gpt2"])
        let cid = KeyDocument.requestCID(namespace: "hf", op: "models", request: ["id": "gpt2"])
        XCTAssertEqual(cid.digest, SHA256.hash(bytes))
        XCTAssertEqual(try CanonicalJSON.canonicalize(bytes), bytes)
    }
}
