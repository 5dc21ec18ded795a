"""Streamed answers (`"stream": true`): stored whole and replayed byte for
byte when complete (`data: [DONE]`), never stored or served when cut short."""
import errno
import json
import os

import pytest

from conftest import chat


def events(body):
    frames = body.decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""], body[-80:]
    return [json.loads(frame[len("data: "):]) for frame in frames[:-2]]


def test_a_complete_stream_is_stored_and_replayed(mount, fake):
    request = chat("stream me", stream=True, stream_options={"include_usage": True})
    first = mount.query("openai", "chat.completions", request)
    chunks = events(first)
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert mount.query("openai", "chat.completions", request) == first
    assert mount.read("api", "openai", "chat.completions", os.path.basename(mount.entry("openai", "chat.completions", request))) == first
    assert len(fake.calls_to("/chat/completions")) == 1
    assert json.loads(fake.bodies("/chat/completions")[0])["stream"] is True
    # The usage chunk counted: one hit by query, one by opening the entry.
    assert mount.stats("openai.json")["tokens_saved"] == 42


def test_stream_is_part_of_the_key(mount, fake):
    streamed = mount.query("openai", "chat.completions", chat("both ways", stream=True))
    whole = mount.query("openai", "chat.completions", chat("both ways", stream=False))
    assert streamed != whole and json.loads(whole)["object"] == "chat.completion"
    assert len(fake.calls_to("/chat/completions")) == 2


def test_completions_stream(mount):
    request = {"model": "gpt-3.5-turbo-instruct", "prompt": "p", "stream": True}
    body = mount.query("openai", "completions", request)
    assert all(c["object"] == "text_completion" for c in events(body))
    assert mount.query("openai", "completions", request) == body


@pytest.mark.parametrize("model", ["stream-nodone", "stream-cut"])
def test_an_incomplete_stream_fails_and_is_not_stored(mount, fake, model):
    request = chat("incomplete", model=model, stream=True)
    fd = os.open(mount.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    received = b""
    try:
        os.write(fd, json.dumps(request).encode())
        with pytest.raises(OSError) as failure:
            while True:
                data = os.read(fd, 65536)
                assert data, "a cut stream ended in a silent EOF"
                received += data
        assert failure.value.errno == errno.EIO
    finally:
        os.close(fd)
    assert b"[DONE]" not in received
    assert not os.path.exists(mount.entry("openai", "chat.completions", request))
    assert mount.json_lines("errors")[-1]["errno"] == "EIO"
    assert mount.query_errno("openai", "chat.completions", request) == "EIO"
    assert len(fake.calls_to("/chat/completions")) == 2
