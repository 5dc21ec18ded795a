"""Gemini's `streamGenerateContent` (`?alt=sse`) cached and replayed like the
other streams: through the mount at `api/gemini/streamGenerateContent/query`
(the model moves from the request into the path) and through the HTTP front at
`POST /gemini/v1beta/models/{model}:streamGenerateContent?alt=sse` with the
google-genai SDK, one entry for both. A stream is complete once its last chunk
has a `finishReason`: one cut before it, or ended cleanly without it, is EIO
(502 at the front) and never stored. Against fake_llm_gemini.py. Every key
here is a made-up test value."""
import json

import httpx
import pytest
from google import genai
from google.genai import types

from cidlib import request_cid
from fake_llm import KEYS
from fake_llm_gemini import USAGE
from http_front import front, llm  # noqa: F401  (fixtures)
from http_front import outcomes

MODEL = "gemini-2.0-flash"
BODY = {"contents": [{"role": "user", "parts": [{"text": "stream to me"}]}], "generationConfig": {"temperature": 0}}
TOKENS = USAGE["gemini"]["promptTokenCount"] + USAGE["gemini"]["candidatesTokenCount"]


def sdk(front):
    return genai.Client(api_key=KEYS["gemini"],
                        http_options=types.HttpOptions(base_url=f"{front.url}/gemini", api_version="v1beta"))


def test_the_mount_stores_the_stream_whole_and_replays_it(front, llm):
    request = {"model": MODEL, **BODY}
    first = front.query("gemini", "streamGenerateContent", request)
    calls = llm.calls_of("gemini")
    assert len(calls) == 1
    assert calls[0]["path"].endswith(f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse")
    assert json.loads(calls[0]["body"]) == BODY, "the model went into the path"
    assert len(calls[0]["events"]) == 4 and first == calls[0]["sent"]
    assert json.loads(first.split(b"\r\n\r\n")[-2][len(b"data: "):])["candidates"][0]["finishReason"] == "STOP"
    assert front.query("gemini", "streamGenerateContent", request) == first
    assert len(llm.calls_of("gemini")) == 1
    assert outcomes(front) == ["miss", "hit"]
    # The usage of the last chunk; temperature 0 keeps it an hour.
    stats = front.stats("gemini.json")
    assert (stats["entries"], stats["tokens_saved"]) == (1, TOKENS)
    assert front.read("api", "gemini", "streamGenerateContent", request_cid("gemini", "streamGenerateContent", request)) == first


def test_the_sdk_streams_through_the_front_then_hits(front, llm):
    client = sdk(front)
    first = [chunk.text for chunk in client.models.generate_content_stream(model=MODEL, contents="hello stream")]
    second = [chunk.text for chunk in client.models.generate_content_stream(model=MODEL, contents="hello stream")]
    assert len(first) == 4 and "".join(first).startswith("Answer ") and second == first
    calls = llm.calls_of("gemini")
    assert len(calls) == 1 and calls[0]["path"].endswith(f"/{MODEL}:streamGenerateContent?alt=sse")
    assert outcomes(front) == ["miss", "hit"]
    # The same entry through the mount: the request the SDK sent, its model in it.
    sent = {"model": MODEL, **json.loads(calls[0]["body"])}
    assert front.query("gemini", "streamGenerateContent", sent) == calls[0]["sent"]
    assert outcomes(front)[-1] == "hit"


def test_the_front_and_the_mount_share_the_entry(front, llm):
    url = f"{front.url}/gemini/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    answer = httpx.post(url, json=BODY)
    assert (answer.headers["x-cidcache"], answer.headers["content-type"]) == ("miss", "text/event-stream")
    assert answer.headers["x-cidcache-request-cid"] == request_cid("gemini", "streamGenerateContent", {"model": MODEL, **BODY})
    assert front.query("gemini", "streamGenerateContent", {"model": MODEL, **BODY}) == answer.content
    assert outcomes(front) == ["miss", "hit"]
    # Without `alt=sse` it is another call (a JSON array), passed through uncached (with the caller's own key).
    passed = httpx.post(url.removesuffix("?alt=sse"), json=BODY, headers={"x-goog-api-key": KEYS["gemini"]})
    assert passed.headers["x-cidcache"] == "bypass"
    assert len(llm.calls_of("gemini")) == 2


@pytest.mark.parametrize("cut", ["stream-cut", "stream-noterm"])
def test_a_stream_without_its_finish_reason_is_never_stored(front, llm, cut):
    request = {"model": cut, **BODY}
    assert front.query_errno("gemini", "streamGenerateContent", request) == "EIO"
    url = f"{front.url}/gemini/v1beta/models/{cut}:streamGenerateContent?alt=sse"
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", url, json=BODY) as response:
            assert response.headers["x-cidcache"] == "miss"
            for _ in response.iter_bytes():
                pass
    assert len(llm.calls_of("gemini")) == 2, "the broken stream was served from the cache"
    assert front.stats("gemini.json")["entries"] == 0
    assert front.json_lines("errors")[-1]["errno"] == "EIO"
