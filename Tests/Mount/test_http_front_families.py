"""The HTTP front's other families through their SDK or plain HTTP: gemini and
ovms (members of the path move into the request), tgi and tei, the Hugging Face
Hub with huggingface_hub's HfApi (GET routes: the path's parameters and the
query string are the request) and GitHub. Every key here is a made-up test value.
"""
import json

import httpx
import pytest
from huggingface_hub import HfApi

from cidlib import request_cid
from fake_infra_http import HF_TOKEN_A, TOKEN_A
from http_front import front, infra_front, llm  # noqa: F401  (fixtures)
from http_front import headers_of, outcomes


# gemini (the model moves from the path into the request), tgi and tei, through plain HTTP

GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hello through http"}]}], "generationConfig": {"temperature": 0}}


def test_gemini_takes_the_model_from_the_path(front, llm):
    url = f"{front.url}/gemini/v1beta/models/gemini-2.0-flash:generateContent"
    first, second = httpx.post(url, json=GEMINI), httpx.post(url, json=GEMINI)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.json() == first.json()
    calls = llm.calls_of("gemini")
    assert len(calls) == 1 and calls[0]["route"] == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert json.loads(calls[0]["body"]) == GEMINI, "the upstream gets the caller's body, the model in its path"
    assert first.headers["x-cidcache-request-cid"] == request_cid("gemini", "generateContent",
                                                                  {"model": "gemini-2.0-flash", **GEMINI})
    assert front.query("gemini", "generateContent", {"model": "gemini-2.0-flash", **GEMINI}) == first.content
    failed = httpx.post(f"{front.url}/gemini/v1beta/models/fail-404:generateContent", json=GEMINI)
    assert failed.status_code == 404 and failed.json()["error"]["status"] == "NOT_FOUND"
    twice = httpx.post(url, json={"model": "gemini-2.0-flash", **GEMINI})
    assert twice.status_code == 400 and twice.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(llm.calls_of("gemini")) == 2


def test_tgi_and_tei(front, llm):
    generate = {"inputs": "hello through http", "parameters": {"max_new_tokens": 4}}
    answers = [httpx.post(f"{front.url}/tgi/generate", json=generate) for _ in range(2)]
    assert [a.headers["x-cidcache"] for a in answers] == ["miss", "hit"] and answers[0].json() == answers[1].json()
    chat_request = {"model": "tgi", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    streams = [httpx.post(f"{front.url}/tgi/v1/chat/completions", json=chat_request) for _ in range(2)]
    assert streams[0].headers["content-type"].startswith("text/event-stream")
    assert streams[1].headers["x-cidcache"] == "hit" and streams[1].content == streams[0].content
    assert streams[0].content.endswith(b"data:[DONE]\n\n")
    embeddings = [httpx.post(f"{front.url}/tei/embed", json={"inputs": "hello"}) for _ in range(2)]
    assert [e.headers["x-cidcache"] for e in embeddings] == ["miss", "hit"] and len(embeddings[1].json()[0]) == 8
    assert len(llm.calls_of("tgi")) == 2 and len(llm.calls_of("tei")) == 1


def test_opea_routes_are_operations(front, llm):
    plain = {"messages": "What is OPEA?", "stream": False}
    answers = [httpx.post(f"{front.url}/opea/v1/chatqna", json=plain) for _ in range(2)]
    assert [a.headers["x-cidcache"] for a in answers] == ["miss", "hit"] and answers[0].json() == answers[1].json()
    streamed = [httpx.post(f"{front.url}/opea/v1/docsum", json={"messages": "sum it up"}) for _ in range(2)]
    assert streamed[0].headers["content-type"].startswith("text/event-stream")
    assert streamed[1].headers["x-cidcache"] == "hit" and streamed[1].content == streamed[0].content
    assert [call["route"] for call in llm.calls_of("opea")] == ["/v1/chatqna", "/v1/docsum"]
    assert httpx.post(f"{front.url}/opea/v1/Not-A-Route", json=plain).status_code == 404


def test_ovms_takes_the_model_and_version_from_the_path(front, llm):
    infer = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    url = f"{front.url}/ovms/v2/models/resnet/versions/2/infer"
    first, second = httpx.post(url, json=infer), httpx.post(url, json=infer)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert first.json()["outputs"][0]["data"] == [2.0, 4.0, 6.0] and first.json()["model_version"] == "2"
    assert [call["route"] for call in llm.calls_of("ovms")] == ["/v2/models/resnet/versions/2/infer"]
    assert json.loads(llm.calls_of("ovms")[0]["body"]) == infer


def test_huggingface_hub_model_info_and_list_repo_files(infra_front, infra):
    api = HfApi(endpoint=f"{infra_front.url}/hf", token=False)
    first = api.model_info("org/bert")
    calls = len(infra.calls_to("/api/models/org/bert"))
    assert api.model_info("org/bert") == first
    assert first.id == "org/bert"
    files = api.list_repo_files("org/bert")
    assert files == [".gitattributes", "config.json", "onnx/model.onnx", "model.safetensors"]
    assert api.list_repo_files("org/bert") == files
    # Two tree pages were fetched and joined once; nothing reached the Hub the second time.
    assert len(infra.calls_to("/api/models/org/bert")) == calls + 3
    assert outcomes(infra_front) == ["miss", "hit", "miss", "hit"]
    # The mount's query for the same model is the same request: one entry.
    assert infra_front.query("hf", "model_info", {"repo_id": "org/bert"})
    assert outcomes(infra_front)[-1] == "hit"


def test_huggingface_hub_errors_and_the_callers_token(infra_front, infra):
    api = HfApi(endpoint=f"{infra_front.url}/hf", token=False)
    from huggingface_hub.errors import RepositoryNotFoundError
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("err/404")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/private")
    assert HfApi(endpoint=f"{infra_front.url}/hf", token=HF_TOKEN_A).model_info("org/private").private is True
    assert headers_of(infra.calls_to("/api/models/org/private")[-1])["authorization"] == f"Bearer {HF_TOKEN_A}"


def test_github_through_plain_http(infra_front, infra):
    url = f"{infra_front.url}/github/orgs/acme/repos"
    first = httpx.get(url, params={"per_page": "2"})
    second = httpx.get(url, params={"per_page": "2"})
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.json() == first.json() and first.json()[0]["full_name"] == "acme/tools"
    assert len(infra.calls_to("/gh/orgs/acme/repos")) == 1
    runs = httpx.get(f"{infra_front.url}/github/repos/o/r/actions/runs", params={"branch": "main"})
    assert runs.json()["total_count"] == 2
    missing = httpx.get(f"{infra_front.url}/github/repos/err/404/actions/runs")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    mine = httpx.get(f"{infra_front.url}/github/user/repos", headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert mine.headers["x-cidcache"] == "miss" and mine.json()[0]["full_name"] == "alice/secret-alice"
    # Not an operation: passed through.
    assert httpx.get(f"{infra_front.url}/github/repos/o/r/code-scanning/analyses").headers["x-cidcache"] == "bypass"
