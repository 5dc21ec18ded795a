import CidCacheCore
@testable import CidCacheUpstreams
import XCTest

final class HuggingFaceFamilyTests: XCTestCase {
    private let family = HuggingFaceFamily()
    private let hub = Endpoint(baseURL: "https://huggingface.co/", credential: nil)

    private func url(_ op: String, _ request: String, endpoint: Endpoint? = nil) throws -> String {
        let parsed = try object(request)
        try family[op: op].validate(parsed)
        return try family[op: op].httpRequest(parsed, body: Array(request.utf8), endpoint: endpoint ?? hub).url
    }

    func testRepoInfoPaths() throws {
        XCTAssertEqual(try url("model_info", #"{"repo_id":"bert-base-uncased"}"#),
                       "https://huggingface.co/api/models/bert-base-uncased")
        XCTAssertEqual(try url("model_info", #"{"repo_id":"google/gemma-2b","revision":"main"}"#),
                       "https://huggingface.co/api/models/google/gemma-2b/revision/main")
        // A revision is one segment; the repo id's one slash stays.
        XCTAssertEqual(try url("dataset_info", #"{"repo_id":"org/my data","revision":"refs/pr/1"}"#),
                       "https://huggingface.co/api/datasets/org/my%20data/revision/refs%2Fpr%2F1")
        XCTAssertEqual(try url("space_info", #"{"repo_id":"gradio/hello_world","expand":["sdk","likes"]}"#),
                       "https://huggingface.co/api/spaces/gradio/hello_world?expand=sdk&expand=likes")
        XCTAssertEqual(try url("model_info", #"{"repo_id":"gpt2","blobs":true}"#),
                       "https://huggingface.co/api/models/gpt2?blobs=true")
    }

    func testTreeAndCommits() throws {
        XCTAssertEqual(try url("list_repo_files", #"{"repo_id":"gpt2"}"#),
                       "https://huggingface.co/api/models/gpt2/tree/main?recursive=true")
        XCTAssertEqual(try url("list_repo_files", #"{"repo_id":"a/b","revision":"v1.0","repo_type":"dataset","path":"data/train","recursive":false}"#),
                       "https://huggingface.co/api/datasets/a/b/tree/v1.0/data%2Ftrain?recursive=false")
        XCTAssertEqual(try url("repo_commits", #"{"repo_id":"a/b"}"#),
                       "https://huggingface.co/api/models/a/b/commits/main")
        XCTAssertEqual(try url("repo_commits", #"{"repo_id":"a/b","repo_type":"space","revision":"dev","p":1}"#),
                       "https://huggingface.co/api/spaces/a/b/commits/dev?p=1")
    }

    func testListsAndTags() throws {
        XCTAssertEqual(try url("list_models", #"{"search":"llama 3","author":"meta-llama","filter":["text-generation","safetensors"],"sort":"downloads","direction":-1,"limit":5}"#),
                       "https://huggingface.co/api/models?search=llama%203&author=meta-llama&filter=text-generation&filter=safetensors&sort=downloads&direction=-1&limit=5")
        XCTAssertEqual(try url("list_datasets", "{}"), "https://huggingface.co/api/datasets")
        XCTAssertEqual(try url("list_datasets", #"{"search":"a&b=c?d/é"}"#),
                       "https://huggingface.co/api/datasets?search=a%26b%3Dc%3Fd%2F%C3%A9")
        XCTAssertEqual(try url("model_tags", "{}"), "https://huggingface.co/api/models-tags-by-type")
        XCTAssertEqual(try url("model_tags", #"{"type":"library"}"#),
                       "https://huggingface.co/api/models-tags-by-type?type=library")
    }

    func testHeadersAndToken() throws {
        let anonymous = try family[op: "model_info"].httpRequest(try object(#"{"repo_id":"gpt2"}"#), body: [], endpoint: hub)
        XCTAssertEqual(anonymous.method, "GET")
        XCTAssertNil(anonymous.body)
        XCTAssertNil(anonymous.header("authorization"))
        XCTAssertEqual(anonymous.header("accept"), "application/json")
        let signed = try family[op: "model_info"].httpRequest(try object(#"{"repo_id":"gpt2"}"#), body: [],
                                            endpoint: Endpoint(baseURL: "http://mirror/hf", credential: "test-hf-token"))
        XCTAssertEqual(signed.url, "http://mirror/hf/api/models/gpt2")
        XCTAssertEqual(signed.header("authorization"), "Bearer test-hf-token")
    }

    func testValidation() throws {
        let bad: [(String, String)] = [
            ("model_info", "{}"), ("model_info", #"{"repo_id":""}"#), ("model_info", #"{"repo_id":5}"#),
            ("model_info", #"{"repo_id":"a/b/c"}"#), ("model_info", #"{"repo_id":"a/.."}"#), ("model_info", #"{"repo_id":"/b"}"#),
            ("model_info", #"{"repo_id":"a","revision":""}"#), ("model_info", #"{"repo_id":"a","revision":3}"#),
            ("list_repo_files", #"{"repo_id":"a","repo_type":"ship"}"#), ("repo_commits", "{}"),
            ("list_models", #"{"filter":{"a":1}}"#), ("list_models", #"{"filter":[["a"]]}"#),
        ]
        for (op, request) in bad {
            XCTAssertThrowsError(try family[op: op].validate(try object(request)), "\(op) \(request)") {
                XCTAssertEqual(($0 as? CacheError)?.kind, .invalidRequest, "\(op) \(request)")
            }
        }
        XCTAssertNoThrow(try family[op: "list_models"].validate(try object(#"{"search":null}"#)))
    }

    func testTTLs() throws {
        let expected = ["model_info": 3600, "list_repo_files": 1800, "dataset_info": 3600, "space_info": 1800,
                        "list_models": 600, "list_datasets": 600, "model_tags": 1800, "repo_commits": 300]
        XCTAssertEqual(Set(family.operations), Set(expected.keys))
        for (op, ttl) in expected { XCTAssertEqual(family[op: op].defaultTTL(JSONObject()), ttl, op) }
        XCTAssertEqual(family[op: "model_info"].droppedFields, [])
    }

    func testPagingHelpers() throws {
        let link = #"<https://huggingface.co/api/models/gpt2/tree/main?recursive=true&cursor=ZXlK>; rel="next""#
        XCTAssertEqual(LinkHeader.next(link), "https://huggingface.co/api/models/gpt2/tree/main?recursive=true&cursor=ZXlK")
        XCTAssertEqual(LinkHeader.next(#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next""#), "https://a/x?page=3")
        XCTAssertNil(LinkHeader.next(#"<https://a/x?page=1>; rel="last""#))
        XCTAssertNil(LinkHeader.next(nil))
        // Only the link's query is taken: the configured host and path stay.
        XCTAssertEqual(LinkHeader.nextPage(of: "http://127.0.0.1:9/api/models/gpt2/tree/main?recursive=true",
                                         link: "https://evil.example/other?recursive=true&cursor=2"),
                       "http://127.0.0.1:9/api/models/gpt2/tree/main?recursive=true&cursor=2")
        let body = Array(#" [ {"path":"a,b]","n":[1,2]} , "x\"]" ,3,null ] "#.utf8)
        let ranges = try XCTUnwrap(RESTCall.arrayElements(body))
        XCTAssertEqual(ranges.map { String(decoding: body[$0], as: UTF8.self) },
                       [#"{"path":"a,b]","n":[1,2]}"#, #""x\"]""#, "3", "null"])
        XCTAssertEqual(RESTCall.arrayElements(Array("[]".utf8))?.count, 0)
        for bad in ["{}", "[1,]", "[,1]", "[1", "[1] x", ""] {
            XCTAssertNil(RESTCall.arrayElements(Array(bad.utf8)), bad)
        }
        XCTAssertEqual(String(decoding: RESTCall.joinedArray([body[ranges[0]], body[ranges[2]]]), as: UTF8.self),
                       #"[{"path":"a,b]","n":[1,2]},3]"#)
    }
}
