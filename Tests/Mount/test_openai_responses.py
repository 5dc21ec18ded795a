"""OpenAI's Responses API (`client.responses.create`, the API the openai SDK
recommends) cached like chat: through the HTTP front at `POST /openai/responses`
with the SDK, plain and `stream=True` (named server-sent events ending with
`response.completed`), and through the mount at `api/openai/responses/query`,
one entry for both. A stream that ends in `response.failed`,
`response.incomplete` or an `error` event, or is cut, is no answer: never
stored, and the next call asks again. Against fake_openai.py's Responses wire
format (fake_openai_responses.py). Every key here is a made-up test value."""
import os

import httpx
import pytest

from cidlib import cid, request_cid
from conftest import TEST_KEY
from fake_openai_responses import USAGE
from http_front import front, llm  # noqa: F401  (fixtures)
from http_front import openai_client, outcomes

TOKENS = sum(USAGE.values())


def ask(text, **extra):
    return {"model": "gpt-4o-mini", "input": text, "temperature": 0, **extra}


def test_responses_through_the_sdk_miss_then_hit(front, fake):
    client = openai_client(front)
    request = ask("hello responses")
    first = client.responses.with_raw_response.create(**request)
    second = client.responses.with_raw_response.create(**request)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.parse().output_text == first.parse().output_text
    assert first.parse().output_text.startswith("answer ")
    assert second.parse().usage.input_tokens == USAGE["input_tokens"]
    assert len(fake.calls_to("/responses")) == 1
    assert first.headers["x-cidcache-request-cid"] == request_cid("openai", "responses", request)
    assert second.headers["x-cidcache-cid"] == cid(second.content) == first.headers["x-cidcache-cid"]
    stats = front.stats("openai.json")
    assert (stats["misses"], stats["hits"], stats["tokens_saved"]) == (1, 1, TOKENS)


def test_a_streamed_response_replays_the_same_events(front, fake):
    client = openai_client(front)
    request = ask("stream responses", stream=True)
    first = client.responses.with_raw_response.create(**request)
    assert first.headers["x-cidcache"] == "miss"
    assert first.headers["content-type"].startswith("text/event-stream")
    events = [event.model_dump() for event in first.parse()]
    assert [e["type"] for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") \
        == events[-1]["response"]["output"][0]["content"][0]["text"]
    second = client.responses.with_raw_response.create(**request)
    assert second.headers["x-cidcache"] == "hit"
    assert [event.model_dump() for event in second.parse()] == events
    assert len(fake.calls_to("/responses")) == 1
    # The tokens the final event's `response.usage` reports.
    assert front.stats("openai.json")["tokens_saved"] == TOKENS


def test_the_mount_and_the_front_share_the_entry(front, fake):
    asked = ask("asked through the mount")
    through_mount = front.query("openai", "responses", asked)
    raw = openai_client(front).responses.with_raw_response.create(**asked)
    assert raw.headers["x-cidcache"] == "hit" and raw.content == through_mount

    streamed = ask("streamed over http first", stream=True)
    answer = httpx.post(f"{front.url}/openai/responses", json=streamed, headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert answer.headers["x-cidcache"] == "miss"
    assert front.query("openai", "responses", streamed) == answer.content
    assert outcomes(front)[-1] == "hit"
    assert len(fake.calls_to("/responses")) == 2


@pytest.mark.parametrize("model", ["stream-failed", "stream-error", "stream-incomplete", "stream-cut"])
def test_a_stream_that_does_not_complete_is_never_stored(front, fake, model):
    request = ask("fails on the way", model=model, stream=True)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", f"{front.url}/openai/responses", json=request, headers=headers) as response:
            assert response.headers["x-cidcache"] == "miss"
            for _ in response.iter_bytes():
                pass
    assert front.query_errno("openai", "responses", request) == "EIO"
    assert len(fake.calls_to("/responses")) == 2, "the failed stream was served from the cache"
    assert front.stats("openai.json")["entries"] == 0
    line = front.json_lines("errors")[-1]
    assert (line["errno"], line["namespace"]) == ("EIO", "openai")


def test_responses_follow_the_temperature_rule(front, fake):
    for temperature, expected in ((0, 3600), (0.7, 1800), (None, 1800)):
        request = ask(f"ttl {temperature}", temperature=temperature)
        front.query("openai", "responses", request)
        path = front.entry("openai", "responses", request)
        assert int(os.getxattr(path, "user.cidcache.ttl")) == expected, temperature
