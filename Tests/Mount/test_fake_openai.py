"""The loopback fake itself, driven with urllib (no daemon): it must speak
OpenAI's wire format, or the mount tests prove nothing."""
import base64
import json
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import TEST_KEY


def post(fake, path, payload, key=TEST_KEY, raw=None):
    data = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(fake.url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_chat_completion_shape_and_determinism(fake):
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    status, headers, body = post(fake, "/chat/completions", request)
    assert status == 200 and headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "gpt-4o-mini"
    choice = answer["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].startswith("answer ")
    usage = answer["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"] > 0
    assert post(fake, "/chat/completions", request)[2] == body
    assert post(fake, "/chat/completions", {**request, "seed": 1})[2] != body
    call = fake.calls_to("/chat/completions")[0]
    assert call["headers"]["Authorization"] == f"Bearer {TEST_KEY}"
    assert call["body"] == json.dumps(request).encode()


def test_completions_and_embeddings_shapes(fake):
    answer = json.loads(post(fake, "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "x"})[2])
    assert answer["object"] == "text_completion" and isinstance(answer["choices"][0]["text"], str)
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    answer = json.loads(post(fake, "/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})[2])
    assert answer["object"] == "list" and answer["model"] == "text-embedding-3-small"
    assert [d["index"] for d in answer["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 8 for d in answer["data"])
    assert answer["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    encoded = json.loads(post(fake, "/embeddings", {"model": "m", "input": "a", "encoding_format": "base64"})[2])
    vector = struct.unpack("<8f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert len(vector) == 8


def test_bearer_is_checked_and_the_key_echoed_masked(fake):
    request = {"model": "gpt-4o-mini", "messages": []}
    status, _, body = post(fake, "/chat/completions", request, key=None)
    assert status == 401 and "didn't provide an API key" in json.loads(body)["error"]["message"]
    status, _, body = post(fake, "/chat/completions", request, key="sk-test-wrong-key-for-this-fake-0042")
    error = json.loads(body)["error"]
    assert status == 401 and error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert "Incorrect API key provided: sk-test-" in error["message"] and "0042." in error["message"]
    status, _, body = post(fake, "/chat/completions", {"model": "fail-401", "messages": []})
    assert status == 401 and TEST_KEY[-4:] in json.loads(body)["error"]["message"]


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
def test_failure_switches_answer_openai_error_bodies(fake, status):
    code, headers, body = post(fake, "/chat/completions", {"model": f"fail-{status}", "messages": []})
    assert code == status
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if status == 429:
        assert headers["retry-after"] == "1" and error["code"] == "rate_limit_exceeded"
    if status == 404:
        assert error["code"] == "model_not_found"


def test_unknown_path_and_bad_json(fake):
    assert post(fake, "/nope", {"model": "m"})[0] == 404
    assert post(fake, "/chat/completions", None, raw=b"{not json")[0] == 400


def test_slow_switch_and_delay(fake):
    started = time.monotonic()
    assert post(fake, "/chat/completions", {"model": "slow-0.3", "messages": []})[0] == 200
    assert time.monotonic() - started >= 0.3
    fake.delay = 0.2
    started = time.monotonic()
    post(fake, "/embeddings", {"model": "m", "input": "x"})
    assert time.monotonic() - started >= 0.2


def test_streams_end_with_done_unless_told_otherwise(fake):
    request = {"model": "gpt-4o-mini", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    status, headers, body = post(fake, "/chat/completions", request)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = body.decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    events = [json.loads(f[len("data: "):]) for f in frames[:-2]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]).startswith("answer ")
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 21
    body = post(fake, "/chat/completions", {**request, "model": "stream-nodone"})[2]
    assert b"[DONE]" not in body and body.endswith(b"\n\n")


def test_peak_counts_calls_in_progress(fake):
    threads = [threading.Thread(target=post, args=(fake, "/chat/completions", {"model": "slow-0.3", "messages": [i]}))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert fake.peak == 3 and fake.active == 0 and len(fake.calls) == 3
