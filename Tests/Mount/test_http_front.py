"""The HTTP front (`cidcache mount --http`) driven by the official SDKs from
PyPI (openai, anthropic, ollama) against the loopback fakes: each first call
reaches the fake once, the second is a hit (the fake's count unchanged,
`x-cidcache: hit`), the parsed objects are equal, streams replay the same
events; the mount and the front share entries; unmapped routes pass through;
upstream errors reach the SDK as the exceptions it raises for them. Every key
here is a made-up test value.
"""
import json
import os
import threading
import time

import anthropic
import httpx
import ollama
import openai
import pytest

from cidlib import cid, request_cid
from conftest import TEST_KEY, chat
from fake_llm import files_holding
from http_front import front, llm  # noqa: F401  (fixtures)
from http_front import MESSAGE, anthropic_client, headers_of, openai_client, outcomes


# openai


def test_openai_chat_miss_then_hit(front, fake):
    client = openai_client(front)
    request = chat("hello through http")
    first = client.chat.completions.with_raw_response.create(**request)
    assert first.headers["x-cidcache"] == "miss"
    assert len(fake.calls_to("/chat/completions")) == 1
    second = client.chat.completions.with_raw_response.create(**request)
    assert second.headers["x-cidcache"] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 1
    assert second.parse().model_dump() == first.parse().model_dump()
    assert second.headers["x-cidcache-request-cid"] == request_cid("openai", "chat.completions", request)
    assert first.headers["x-cidcache-request-cid"] == second.headers["x-cidcache-request-cid"]
    assert second.headers["x-cidcache-cid"] == cid(second.content) == first.headers["x-cidcache-cid"]
    assert second.headers["content-type"] == "application/json"


def test_openai_streamed_chat_replays_the_same_events(front, fake):
    client = openai_client(front)
    request = chat("stream me", stream=True)
    first = client.chat.completions.with_raw_response.create(**request)
    assert first.headers["x-cidcache"] == "miss"
    assert first.headers["content-type"].startswith("text/event-stream")
    events = [event.model_dump() for event in first.parse()]
    assert "".join(e["choices"][0]["delta"]["content"] or "" for e in events if e["choices"]).startswith("answer ")
    second = client.chat.completions.with_raw_response.create(**request)
    assert second.headers["x-cidcache"] == "hit"
    assert [event.model_dump() for event in second.parse()] == events
    assert len(fake.calls_to("/chat/completions")) == 1


def test_openai_embeddings(front, fake):
    client = openai_client(front)
    first = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    second = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(second.parse().data[0].embedding) == 8
    assert len(fake.calls_to("/embeddings")) == 1


# anthropic


def test_anthropic_messages_miss_then_hit(front, llm):
    client = anthropic_client(front)
    first = client.messages.with_raw_response.create(**MESSAGE)
    second = client.messages.with_raw_response.create(**MESSAGE)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(llm.calls_of("anthropic")) == 1


def test_anthropic_streamed_messages_replay_the_same_events(front, llm):
    client = anthropic_client(front)
    first = client.messages.with_raw_response.create(**MESSAGE, stream=True)
    events = [event.model_dump() for event in first.parse()]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    second = client.messages.with_raw_response.create(**MESSAGE, stream=True)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert [event.model_dump() for event in second.parse()] == events
    assert len(llm.calls_of("anthropic")) == 1


# ollama (its client has no raw response: the outcomes are the log's)


def test_ollama_chat_plain_and_streamed(front, llm):
    client = ollama.Client(host=f"{front.url}/ollama")
    messages = [{"role": "user", "content": "hello through http"}]
    first = client.chat(model="llama3.2", messages=messages, stream=False, options={"temperature": 0})
    second = client.chat(model="llama3.2", messages=messages, stream=False, options={"temperature": 0})
    assert second.model_dump() == first.model_dump()
    streamed = [chunk.model_dump() for chunk in client.chat(model="llama3.2", messages=messages, stream=True)]
    assert streamed[-1]["done"] is True
    again = [chunk.model_dump() for chunk in client.chat(model="llama3.2", messages=messages, stream=True)]
    assert again == streamed
    assert len(llm.calls_of("ollama", "/api/chat")) == 2
    assert outcomes(front) == ["miss", "hit", "miss", "hit"]


def test_a_streamed_miss_is_passed_on_as_it_arrives(front, llm):
    """The first line reaches the client while the fake is still sending (events ~0.3 s apart)."""
    body = {"model": "stream-slow", "messages": [{"role": "user", "content": "slowly"}]}
    with httpx.stream("POST", f"{front.url}/ollama/api/chat", json=body, timeout=10) as response:
        assert response.headers["x-cidcache"] == "miss"
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.iter_lines()
        assert json.loads(next(lines))["done"] is False
        assert llm.calls_of("ollama")[0]["finished"] is None, "the whole stream was awaited before the first line"
        rest = list(lines)
    assert json.loads(rest[-1])["done"] is True


def test_a_stream_cut_short_never_ends_as_a_whole_answer(front, fake):
    body = chat("cut", model="stream-cut", stream=True)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("POST", f"{front.url}/openai/chat/completions", json=body, headers=headers) as response:
                assert response.headers["x-cidcache"] == "miss"
                for _ in response.iter_bytes():
                    pass
    assert len(fake.calls_to("/chat/completions")) == 2, "the cut answer was not stored"


# one cache, two fronts


def test_the_mount_and_the_front_share_entries(front, fake):
    asked = chat("asked through the mount")
    through_mount = front.query("openai", "chat.completions", asked)
    raw = openai_client(front).chat.completions.with_raw_response.create(**asked)
    assert raw.headers["x-cidcache"] == "hit"
    assert raw.content == through_mount

    http_first = chat("asked over http first")
    answer = openai_client(front).chat.completions.with_raw_response.create(**http_first)
    assert answer.headers["x-cidcache"] == "miss"
    assert front.query("openai", "chat.completions", http_first) == answer.content
    assert outcomes(front)[-1] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 2
    assert os.path.exists(front.entry("openai", "chat.completions", http_first))


def test_cache_control_no_cache_refreshes_and_no_store_bypasses(front, fake):
    client = openai_client(front)
    request = chat("control me")
    client.chat.completions.create(**request)
    refreshed = client.chat.completions.with_raw_response.create(**request, extra_headers={"Cache-Control": "no-cache"})
    assert refreshed.headers["x-cidcache"] == "miss"
    bypassed = client.chat.completions.with_raw_response.create(**request, extra_headers={"Cache-Control": "no-store"})
    assert bypassed.headers["x-cidcache"] == "bypass"
    assert len(fake.calls_to("/chat/completions")) == 3
    assert client.chat.completions.with_raw_response.create(**request).headers["x-cidcache"] == "hit"


# pass-through


def test_an_unmapped_route_passes_through(front, fake):
    client = openai_client(front)
    for _ in range(2):
        raw = client.models.with_raw_response.list()
        assert raw.headers["x-cidcache"] == "bypass"
        assert [model.id for model in raw.parse()] == ["gpt-4o-mini", "text-embedding-3-small"]
    calls = fake.calls_to("/models")
    assert len(calls) == 2
    assert headers_of(calls[0])["authorization"] == f"Bearer {TEST_KEY}"
    time.sleep(1.2)  # figures are flushed every second
    assert front.stats("openai.json")["bypassed"] == 2
    # A route of a namespace whose upstream answers 404 keeps its status and body.
    response = httpx.get(f"{front.url}/openai/nothing-here", headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert response.status_code == 404
    assert "Invalid URL (GET /v1/nothing-here)" in response.json()["error"]["message"]


def test_the_configured_key_is_added_only_when_the_caller_sends_none(front, fake):
    httpx.get(f"{front.url}/openai/models").raise_for_status()
    assert headers_of(fake.calls_to("/models")[-1])["authorization"] == f"Bearer {TEST_KEY}"
    refused = httpx.get(f"{front.url}/openai/models", headers={"Authorization": "Bearer sk-test-callers-wrong-0009"})
    assert refused.status_code == 401


# errors


@pytest.mark.parametrize("model, status, exception", [
    ("fail-401", 401, openai.AuthenticationError),
    ("fail-404", 404, openai.NotFoundError),
    ("fail-429", 429, openai.RateLimitError),
    ("fail-500", 500, openai.InternalServerError),
])
def test_upstream_errors_reach_the_sdk_as_its_own(front, model, status, exception):
    with pytest.raises(exception) as raised:
        openai_client(front).chat.completions.create(**chat(model=model))
    assert raised.value.status_code == status
    assert raised.value.body["type"] == {401: "invalid_request_error", 404: "invalid_request_error", 429: "requests",
                                          500: "server_error"}[status]
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def test_the_callers_own_key_is_used_and_never_kept(front, fake, llm):
    wrong = "sk-test-callers-own-wrong-key-0042"
    with pytest.raises(openai.AuthenticationError) as raised:
        openai_client(front, key=wrong).chat.completions.create(**chat("whose key"))
    assert "sk-test-" in raised.value.body["message"]
    assert headers_of(fake.calls_to("/chat/completions")[-1])["authorization"] == f"Bearer {wrong}"
    # This SDK sends its key as a bearer token; older ones as x-api-key: either is the caller's.
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(front, key="sk-ant-test-wrong-0043").messages.create(**MESSAGE)
    refused = httpx.post(f"{front.url}/anthropic/v1/messages", json=MESSAGE,
                         headers={"x-api-key": "sk-ant-test-wrong-0044", "anthropic-version": "2023-06-01"})
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert [call["headers"]["x-api-key"] for call in llm.calls_of("anthropic")] == ["sk-ant-test-wrong-0043",
                                                                                 "sk-ant-test-wrong-0044"]
    assert not files_holding(front.root, [wrong, "sk-ant-test-wrong-0043", "sk-ant-test-wrong-0044"])


def test_failures_without_an_upstream_answer_are_in_the_familys_format(front, fake):
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(front).chat.completions.create(**chat("bad control"), extra_body={"cidcache": {"ttl": "long"}})
    assert raised.value.body["code"] == "EINVAL"
    assert raised.value.body["message"].startswith("cidcache: EINVAL")
    not_json = httpx.post(f"{front.url}/openai/chat/completions", content=b"not json")
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client(front).messages.create(model="claude-3-5-haiku-latest", max_tokens=1, messages=[],
                                                extra_body={"max_tokens": "many"})
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    unknown = httpx.get(f"{front.url}/no-such-namespace/models")
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("cidcache: ENOENT")
    assert not fake.calls_to("/chat/completions")


def test_one_upstream_call_for_a_miss_asked_at_once_through_both_fronts(front, fake):
    """A slow miss asked over HTTP twice and through the mount once: one call, the others coalesced."""
    request = chat("at once", model="slow-1")
    results = {}

    def over_http(name):
        results[name] = openai_client(front).chat.completions.with_raw_response.create(**request)

    def through_mount():
        results["mount"] = front.query("openai", "chat.completions", request)

    threads = [threading.Thread(target=over_http, args=(n,)) for n in ("a", "b")] + [threading.Thread(target=through_mount)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(20)
    assert len(fake.calls_to("/chat/completions")) == 1
    assert sorted([results["a"].headers["x-cidcache"], results["b"].headers["x-cidcache"]]) == ["coalesced", "miss"]
    assert results["a"].content == results["b"].content == results["mount"]
    assert sorted(outcomes(front)) == ["coalesced", "coalesced", "miss"]
