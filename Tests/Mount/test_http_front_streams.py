"""The HTTP front never relabels an answer and never serves a failed stream,
with the official SDKs against fake_failing_upstreams.py: a stream sent unasked
and cut before its terminal event is 502 (nothing stored: the next call asks
the upstream again); an anthropic `stream: true` request the upstream answered
with whole JSON is served as `application/json` on the miss and on the hit.
Every key here is a made-up test value."""
import json
import socket

import anthropic
import httpx
import ollama
import openai
import pytest

from fake_failing_upstreams import failing  # noqa: F401  (fixture)
from fake_failing_upstreams import KEYS, KUBO_TOKEN, MESSAGE, STREAM_ERROR, point_at
from http_front import start_front

MESSAGES = [{"role": "user", "content": "hello"}]
ASK = {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "messages": MESSAGES}


@pytest.fixture
def failing_front(make_mount, failing):
    m = make_mount()
    point_at(m.env, failing)
    return start_front(m)


def test_openai_stream_sent_unasked_and_cut_is_502(failing_front, failing):
    client = openai.OpenAI(base_url=f"{failing_front.url}/openai", api_key=KEYS["openai"], max_retries=0)
    for attempt in (1, 2):
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="unasked-cut", messages=MESSAGES)
        assert raised.value.status_code == 502
        assert len(failing.calls_to("/openai/")) == attempt, "the cut stream was served from the cache"
    line = failing_front.json_lines("errors")[-1]
    assert (line["errno"], line["namespace"]) == ("EIO", "openai") and "terminal event" in line["message"]
    assert failing_front.stats("openai.json")["entries"] == 0


def test_ollama_stream_sent_unasked_and_cut_is_502(failing_front, failing):
    client = ollama.Client(host=f"{failing_front.url}/ollama")
    for attempt in (1, 2):
        with pytest.raises(ollama.ResponseError) as raised:
            client.chat(model="unasked-cut", messages=MESSAGES, stream=False)
        assert raised.value.status_code == 502
        assert len(failing.calls_to("/ollama/")) == attempt
    assert failing_front.json_lines("errors")[-1]["errno"] == "EIO"
    assert failing_front.stats("ollama.json")["entries"] == 0


def test_stream_request_answered_with_json_is_served_as_json(failing_front, failing):
    client = anthropic.Anthropic(base_url=f"{failing_front.url}/anthropic", api_key=KEYS["anthropic"], max_retries=0)
    for outcome in ("miss", "hit"):
        raw = client.messages.with_raw_response.create(**ASK, stream=True)
        assert raw.headers["content-type"] == "application/json", outcome
        assert raw.headers["x-cidcache"] == outcome
        # A caller that reads the content type gets the message the upstream sent.
        message = anthropic.types.Message.model_validate(json.loads(raw.http_response.read()))
        assert message.content[0].text == MESSAGE["content"][0]["text"]
    assert len(failing.calls_to("/anthropic/")) == 1
    # The SDK's stream helper finds no events in JSON: it raises instead of ending quietly.
    with pytest.raises(AssertionError):
        with client.messages.stream(**ASK) as stream:
            stream.get_final_message()
    # Plain HTTP sees the same, and the mount replays the same JSON.
    again = httpx.post(f"{failing_front.url}/anthropic/v1/messages", json={**ASK, "stream": True},
                       headers={"x-api-key": KEYS["anthropic"], "anthropic-version": "2023-06-01"})
    assert (again.headers["content-type"], again.headers["x-cidcache"], again.json()) == ("application/json", "hit", MESSAGE)
    assert failing_front.query("anthropic", "messages", {**ASK, "stream": True}) == again.content


def chunked_body_and_trailers(url, path, headers):
    """A POST's chunked answer read off the socket: its body and its trailer fields (httpx drops trailers)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n{lines}\r\n".encode())
        reader = conn.makefile("rb")
        status = reader.readline()
        head = {}
        for line in iter(reader.readline, b"\r\n"):
            name, _, value = line.decode().partition(":")
            head[name.strip().lower()] = value.strip()
        assert status.split()[1] == b"200" and head.get("transfer-encoding") == "chunked", (status, head)
        body = b""
        while (size := int(reader.readline().split(b";")[0], 16)) > 0:
            body += reader.read(size)
            reader.readline()
        trailers = {}
        for line in iter(reader.readline, b"\r\n"):
            name, _, value = line.decode().partition(":")
            trailers[name.strip().lower()] = value.strip()
        return body, trailers


def test_a_kubo_streams_failure_reaches_the_client_through_pass_through(failing_front, failing):
    """ipfs is pass-through on the front: the X-Stream-Error trailer that says
    the stream failed part-way goes on to the client, which reads it as the
    failure (go-ipfs-cmds' clients do); a stream that ended well has none."""
    auth = {"Authorization": f"Bearer {KUBO_TOKEN}"}
    body, trailers = chunked_body_and_trailers(failing_front.url, "/ipfs/api/v0/routing/findprovs?arg=trailer-9", auth)
    assert body and trailers.get("x-stream-error") == STREAM_ERROR
    body, trailers = chunked_body_and_trailers(failing_front.url, "/ipfs/api/v0/routing/findprovs?arg=fine-9", auth)
    assert body and "x-stream-error" not in trailers
