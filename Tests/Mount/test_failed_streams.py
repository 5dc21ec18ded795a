"""A stream that failed is a failure, never an answer, through a real mount
against fake_failing_upstreams.py: Kubo's X-Stream-Error trailer and in-stream
error lines, streams an upstream sent unasked and cut before their terminal
event, a body cut short of its Content-Length (each EIO, an `errors` line,
nothing stored: the next ask calls the upstream again), and error bodies that
are plain text or HTML (their status's errno, their first line the message)."""
import json

import pytest

from cidlib import request_cid
from fake_failing_upstreams import failing  # noqa: F401  (fixture)
from fake_failing_upstreams import KUBO_TOKEN, STREAM_ERROR, point_at

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def failing_mount(make_mount, failing):
    m = make_mount()
    point_at(m.env, failing)
    return m.start()


def entry_exists(m, ns, op, request):
    try:
        m.read("api", ns, op, request_cid(ns, op, request))
        return True
    except FileNotFoundError:
        return False


def assert_failed_and_kept_nothing(m, failing, ns, op, request, prefix, message):
    """EIO with an `errors` line saying `message`; no entry; a second ask calls the upstream again, and fails again."""
    calls = len(failing.calls_to(prefix))
    assert m.query_errno(ns, op, request) == "EIO", request
    line = m.json_lines("errors")[-1]
    assert (line["errno"], line["namespace"], line["op"]) == ("EIO", ns, op)
    assert line["request_cid"] == request_cid(ns, op, request)
    assert message in line["message"], line
    assert not entry_exists(m, ns, op, request)
    assert m.query_errno(ns, op, request) == "EIO"
    assert len(failing.calls_to(prefix)) == calls + 2, "the failed answer was served from the cache"
    assert m.json_lines("log")[-1]["outcome"] == "error"


KUBO_FAILURES = [("dht.findprovs", {"cid": "trailer-1"}), ("pin.ls", {"cid": "trailer-2", "stream": True}),
                 ("dht.findprovs", {"cid": "errline-1"}), ("pin.ls", {"cid": "errline-2", "stream": True})]


@pytest.mark.parametrize("op, request_", KUBO_FAILURES)
def test_kubo_stream_that_failed_part_way_is_eio(failing_mount, failing, op, request_):
    """go-ipfs-cmds ends a command that failed part-way as a normal chunked body,
    the failure in the X-Stream-Error trailer or an error line. The same
    command ended well is stored and served as a hit."""
    m = failing_mount
    assert_failed_and_kept_nothing(m, failing, "ipfs", op, request_, "/api/v0/", STREAM_ERROR)
    assert m.stats("ipfs.json")["entries"] == 0
    fine = {**request_, "cid": "fine-" + request_["cid"]}
    first = m.query("ipfs", op, fine)
    assert [json.loads(line) for line in first.splitlines()]
    calls = len(failing.calls_to("/api/v0/"))
    assert m.query("ipfs", op, fine) == first
    assert len(failing.calls_to("/api/v0/")) == calls
    assert [line["outcome"] for line in m.json_lines("log")][-2:] == ["miss", "hit"]


def test_text_error_bodies_map_by_status_with_their_first_line(failing_mount, failing):
    m = failing_mount
    cases = [({"cid": "text400-a"}, "EINVAL", 400,
              'upstream answered 400: invalid path "/ipfs/text400-a": selected encoding not supported (token [redacted])'),
             ({"cid": "text404-b"}, "ENOENT", 404, "upstream answered 404: 404 page not found"),
             ({"cid": "html403-c"}, "EACCES", 403, "upstream answered 403: 403 Forbidden")]
    for request, name, status, message in cases:
        assert m.query_errno("ipfs", "stat", request) == name
        line = m.json_lines("errors")[-1]
        assert (line["errno"], line["status"], line["message"]) == (name, status, message)
        assert not entry_exists(m, "ipfs", "stat", request)
    assert KUBO_TOKEN.encode() not in m.read("errors")


def test_a_stream_sent_unasked_and_cut_or_a_body_cut_short_is_eio(failing_mount, failing):
    """Completeness is judged whether or not the request asked to stream; a body
    cut short of its Content-Length is never stored either. A stream sent
    unasked that ended with its terminal event is stored."""
    m = failing_mount
    for ns, op, request, prefix, message in [
            ("openai", "chat.completions", {"model": "unasked-cut", "messages": MESSAGES}, "/openai/", "terminal event"),
            ("ollama", "chat", {"model": "unasked-cut", "messages": MESSAGES, "stream": False}, "/ollama/", "terminal event"),
            ("openai", "chat.completions", {"model": "short-body", "messages": MESSAGES}, "/openai/", "")]:
        assert_failed_and_kept_nothing(m, failing, ns, op, request, prefix, message)
    whole = {"model": "unasked-whole", "messages": MESSAGES}
    calls = len(failing.calls_to("/openai/"))
    first = m.query("openai", "chat.completions", whole)
    assert first.endswith(b"data: [DONE]\n\n")
    assert m.query("openai", "chat.completions", whole) == first
    assert len(failing.calls_to("/openai/")) == calls + 1
