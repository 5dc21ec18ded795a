"""The LLM and inference families' failures through a real mount against
fake_llm.py: each family's error statuses as the errno of docs/REFERENCE.md
§5 (answered in the family's own error body), wrong or missing keys, required
fields refused before any call, and a slow upstream timing out."""
import json
import os
import time

import pytest

from cidlib import request_cid
from fake_llm import deadline, llm, llm_mount  # noqa: F401  (fixtures; deadline is autouse)

# Error statuses by family: (status, errno), each answered in the family's own error body.
STATUSES = {
    "anthropic": ("messages", lambda s: {"model": s, "max_tokens": 8, "messages": [{"role": "user", "content": "e"}]},
                  [(400, "EINVAL"), (401, "EACCES"), (403, "EACCES"), (404, "ENOENT"), (413, "EFBIG"),
                   (429, "EBUSY"), (500, "EIO"), (529, "EBUSY")]),
    "gemini": ("generateContent", lambda s: {"model": s, "contents": [{"parts": [{"text": "e"}]}]},
               [(400, "EINVAL"), (401, "EACCES"), (403, "EACCES"), (404, "ENOENT"), (429, "EBUSY"),
                (500, "EIO"), (503, "EBUSY"), (504, "ETIMEDOUT")]),
    "ollama": ("chat", lambda s: {"model": s, "messages": [{"role": "user", "content": "e"}], "stream": False},
               [(400, "EINVAL"), (401, "EACCES"), (404, "ENOENT"), (429, "EBUSY"), (500, "EIO"), (503, "EBUSY")]),
    "tgi": ("generate", lambda s: {"inputs": s, "parameters": {"max_new_tokens": 4}},
            [(401, "EACCES"), (404, "ENOENT"), (422, "EINVAL"), (424, "EIO"), (429, "EBUSY"), (500, "EIO"),
             (503, "EBUSY")]),
    "tei": ("embed", lambda s: {"inputs": s},
            [(401, "EACCES"), (413, "EFBIG"), (422, "EINVAL"), (424, "EIO"), (429, "EBUSY"), (503, "EBUSY")]),
    "ovms": ("infer", lambda s: {"model": s, "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]},
             [(400, "EINVAL"), (401, "EACCES"), (404, "ENOENT"), (500, "EIO"), (503, "EBUSY")]),
    "opea": ("chatqna", lambda s: {"messages": s, "stream": False},
             [(400, "EINVAL"), (401, "EACCES"), (404, "ENOENT"), (422, "EINVAL"), (429, "EBUSY"), (500, "EIO"),
              (503, "EBUSY")]),
}


@pytest.mark.parametrize("ns", list(STATUSES))
def test_error_statuses_map_to_errno(llm_mount, llm, ns):
    op, build, statuses = STATUSES[ns]
    m = llm_mount()
    for status, expected in statuses:
        request = build(f"fail-{status}")
        assert m.query_errno(ns, op, request) == expected, status
        line = m.json_lines("errors")[-1]
        assert (line["namespace"], line["op"], line["errno"], line["status"]) == (ns, op, expected, status)
        assert line["request_cid"] == request_cid(ns, op, request)
        assert llm.calls_of(ns)[-1]["status"] == status
    assert len(llm.calls_of(ns)) == len(statuses)  # no retries configured, one call each
    stats = m.stats(f"{ns}.json")
    assert stats["upstream_errors"] == len(statuses)
    assert stats["entries"] == 0 and stats["misses"] == 0
    assert os.listdir(m.p("api", ns, op)) == ["query"]
    # Never cached: the same question asks the upstream again.
    assert m.query_errno(ns, op, build("fail-500")) == "EIO"
    assert len(llm.calls_of(ns)) == len(statuses) + 1


def assert_refused_without_key(llm_mount, llm, ns, op, request):
    """With no key at all, a request is refused (EACCES) before any call."""
    m = llm_mount(start=False)
    m.env.pop(f"CIDCACHE_{ns.upper()}_KEY")
    m.start()
    before = len(llm.calls_of(ns))
    assert m.query_errno(ns, op, request) == "EACCES"
    assert len(llm.calls_of(ns)) == before


def test_anthropic_wrong_or_missing_key(llm_mount, llm):
    request = {"model": "claude-3-5-haiku-20241022", "max_tokens": 8, "messages": [{"role": "user", "content": "k"}]}
    m = llm_mount(start=False)
    m.env["CIDCACHE_ANTHROPIC_KEY"] = "sk-ant-test-wrong-key-0012"
    m.start()
    assert m.query_errno("anthropic", "messages", request) == "EACCES"
    call = llm.calls_of("anthropic")[-1]
    assert call["status"] == 401 and json.loads(call["sent"])["error"]["type"] == "authentication_error"
    line = m.json_lines("errors")[-1]
    assert line["status"] == 401 and "wrong-key" not in line["message"]
    m.stop()
    assert_refused_without_key(llm_mount, llm, "anthropic", "messages", request)


def test_gemini_wrong_or_missing_key(llm_mount, llm):
    """Google answers a wrong API key with 400 INVALID_ARGUMENT, reason
    API_KEY_INVALID: the upstream refused the credentials, so EACCES."""
    request = {"model": "gemini-2.0-flash", "contents": [{"parts": [{"text": "k"}]}]}
    m = llm_mount(start=False)
    m.env["CIDCACHE_GEMINI_KEY"] = "AIza-test-wrong-key-0013"
    m.start()
    assert m.query_errno("gemini", "generateContent", request) == "EACCES"
    call = llm.calls_of("gemini")[-1]
    assert call["status"] == 400 and json.loads(call["sent"])["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert "Wrong-key" not in m.json_lines("errors")[-1]["message"]
    # A request the API itself finds invalid stays EINVAL.
    assert m.query_errno("gemini", "generateContent", {**request, "bogusField": 1}) == "EACCES"  # key checked first
    m.stop()
    m = llm_mount()
    assert m.query_errno("gemini", "generateContent", {**request, "bogusField": 1}) == "EINVAL"
    m.stop()
    assert_refused_without_key(llm_mount, llm, "gemini", "generateContent", request)


def test_required_fields_refused_before_any_call(llm_mount, llm):
    m = llm_mount()
    refused = [
        ("anthropic", "messages", {"model": "claude-3-5-haiku-20241022", "messages": []}),  # max_tokens missing
        ("anthropic", "messages", {"max_tokens": 8, "messages": []}),
        ("ollama", "chat", {"model": "llama3.2"}),
        ("ollama", "embed", {"model": "nomic-embed-text"}),
        ("tgi", "generate", {"parameters": {}}),
        ("tei", "embed", {"normalize": True}),
        ("ovms", "infer", {"model": "m", "inputs": "not a list"}),
    ]
    for ns, op, request in refused:
        assert m.query_errno(ns, op, request) == "EINVAL", (ns, request)
    assert llm.calls == []


@pytest.mark.parametrize("ns, op, body", [
    ("anthropic", "messages", {"model": "slow-3", "max_tokens": 8, "messages": [{"role": "user", "content": "t"}]}),
    ("gemini", "generateContent", {"model": "slow-3", "contents": [{"parts": [{"text": "t"}]}]}),
    ("ollama", "chat", {"model": "slow-3", "messages": [{"role": "user", "content": "t"}], "stream": False}),
    ("tgi", "generate", {"inputs": "slow-3"}),
    ("tei", "embed", {"inputs": "slow-3"}),
    ("ovms", "infer", {"model": "slow-3", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}),
    ("opea", "chatqna", {"messages": "slow-3", "stream": False}),
])
def test_slow_upstream_times_out(llm_mount, llm, ns, op, body):
    m = llm_mount(upstream_timeout_s=1)
    started = time.time()
    assert m.query_errno(ns, op, body) == "ETIMEDOUT"
    assert time.time() - started < 2.5
    line = m.json_lines("errors")[-1]
    assert line["errno"] == "ETIMEDOUT" and line["request_cid"] == request_cid(ns, op, body)
    assert m.stats(f"{ns}.json")["entries"] == 0
