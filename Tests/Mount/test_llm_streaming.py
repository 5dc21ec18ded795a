"""Streamed answers through a real mount, for the families that stream:
OpenAI-compatible chat (server-sent events ending `data: [DONE]`), Anthropic
Messages (events ending `message_stop`), Ollama chat (NDJSON ending with a
`"done": true` line; it streams unless told not to) and TGI chat (TGI's SSE,
`data:` without a space). A stream is stored whole and replayed byte for byte;
a miss reaches its reader progressively; concurrent identical readers share
one upstream stream; a stream cut before its terminal event gives its bytes and
then EIO, and is never stored; a stream may run past the upstream timeout,
but one silent for `stream_idle_timeout_s` or still going at `stream_max_s`
ends in ETIMEDOUT. (The OpenAI family's own streaming tests against
fake_openai.py are in test_streaming.py.)"""
import errno
import json
import os
import threading
import time

import pytest

from cidlib import request_cid
from fake_llm import bounded, deadline, llm, llm_mount  # noqa: F401  (fixtures; deadline is autouse)
from fake_llm_families import USAGE

MESSAGES = [{"role": "user", "content": "Tell me a story"}]

STREAMS = {
    "openai": dict(
        ns="openai", op="chat.completions", family="openai", model="gpt-4o-mini",
        build=lambda model, text: {"model": model, "messages": [{"role": "user", "content": text}], "stream": True,
                                   "stream_options": {"include_usage": True}, "user": "u-7"},
        dropped=("user", "metadata", "store", "cidcache"), terminal=b"data: [DONE]\n\n",
        tokens=USAGE["openai"]["prompt_tokens"] + USAGE["openai"]["completion_tokens"]),
    "anthropic": dict(
        ns="anthropic", op="messages", family="anthropic", model="claude-3-5-haiku-20241022",
        build=lambda model, text: {"model": model, "max_tokens": 256, "stream": True,
                                   "messages": [{"role": "user", "content": text}], "metadata": {"user_id": "u-7"}},
        dropped=("metadata", "cidcache"), terminal=b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
        tokens=USAGE["anthropic_stream"]["input_tokens"] + USAGE["anthropic_stream"]["output_tokens"]),
    "ollama": dict(
        ns="ollama", op="chat", family="ollama", model="llama3.2",
        build=lambda model, text: {"model": model, "messages": [{"role": "user", "content": text}]},
        dropped=("cidcache",), terminal=None,
        tokens=USAGE["ollama"]["prompt_eval_count"] + USAGE["ollama"]["eval_count"]),
    "tgi": dict(
        ns="tgi", op="chat.completions", family="tgi", model="tgi",
        build=lambda model, text: {"model": model, "messages": [{"role": "user", "content": text}], "stream": True,
                                   "stream_options": {"include_usage": True}},
        dropped=("user", "metadata", "store", "cidcache"), terminal=b"data:[DONE]\n\n",
        tokens=USAGE["tgi_chat"]["prompt_tokens"] + USAGE["tgi_chat"]["completion_tokens"]),
}


def read_stream(m, ns, op, request, first=None):
    """One transaction read chunk by chunk: [(time, bytes)] (the last one b"" at
    EOF) and the errno name that ended it, if any."""
    reads = []
    fd = os.open(m.p("api", ns, op, "query"), os.O_RDWR)
    try:
        os.write(fd, json.dumps(request).encode())
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError as error:
                return reads, errno.errorcode[error.errno]
            reads.append((time.time(), data))
            if data and first is not None:
                first.set()
            if not data:
                return reads, None
    finally:
        os.close(fd)


def joined(reads):
    return b"".join(data for _, data in reads)


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def ndjson_done(body):
    return json.loads(body.strip().split(b"\n")[-1])["done"] is True


@pytest.mark.parametrize("kind", list(STREAMS))
def test_streamed_answer_stored_whole_and_replayed_byte_for_byte(llm_mount, llm, kind):
    s = STREAMS[kind]
    m = llm_mount()
    request = s["build"](s["model"], f"replay {kind}")
    first = bounded(lambda: m.query(s["ns"], s["op"], request))
    calls = llm.calls_of(s["family"])
    assert len(calls) == 1
    call = calls[0]
    # It was streamed (chunk by chunk), and the reader got exactly what the upstream sent.
    assert len(call["events"]) >= 5
    assert first == call["sent"]
    if s["terminal"]:
        assert first.endswith(s["terminal"])
    else:
        assert ndjson_done(first)
    # Replayed byte for byte, without calling the upstream.
    second = bounded(lambda: m.query(s["ns"], s["op"], request))
    assert second == first
    assert len(llm.calls_of(s["family"])) == 1
    assert outcomes(m) == ["miss", "hit"]
    # The usage a stream reports (final usage chunk, message_start/message_delta, the done line).
    assert m.stats(f"{s['ns']}.json")["tokens_saved"] == s["tokens"]
    # Stored whole, under the request's CID (opening the entry is a hit too).
    rcid = request_cid(s["ns"], s["op"], request, dropped=s["dropped"])
    assert m.read("api", s["ns"], s["op"], rcid) == first
    assert os.stat(m.p("api", s["ns"], s["op"], rcid)).st_size == len(first)
    assert m.stats(f"{s['ns']}.json")["tokens_saved"] == 2 * s["tokens"]
    # "stream" stays in the key: the same question unstreamed is another entry and another call.
    plain = {**request, "stream": False}
    answer = json.loads(bounded(lambda: m.query(s["ns"], s["op"], plain)))
    assert isinstance(answer, dict)
    assert len(llm.calls_of(s["family"])) == 2
    assert request_cid(s["ns"], s["op"], plain, dropped=s["dropped"]) != rcid


@pytest.mark.parametrize("kind", list(STREAMS))
def test_streamed_miss_reaches_the_reader_progressively(llm_mount, llm, kind):
    s = STREAMS[kind]
    m = llm_mount()
    request = s["build"]("stream-slow", f"progress {kind}")
    reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
    assert failure is None
    call = llm.calls_of(s["family"])[0]
    events = call["events"]
    assert len(events) >= 6
    last_event = events[-1][0]
    first_read = reads[0][0]
    # The first bytes reached the reader long before the upstream sent its last event...
    assert reads[0][1], "the first read returned nothing"
    assert first_read < last_event - 3 * llm.gap, (first_read - events[0][0], last_event - events[0][0])
    assert first_read - events[0][0] < 2 * llm.gap
    # ...and were only the start of the answer, which kept coming in several reads.
    assert len(reads[0][1]) < len(call["sent"])
    assert len([data for _, data in reads if data]) >= 3
    assert joined(reads) == call["sent"]
    # Once whole, it was stored.
    rcid = request_cid(s["ns"], s["op"], request, dropped=s["dropped"])
    assert m.read("api", s["ns"], s["op"], rcid) == call["sent"]


def read_twice_at_once(m, s, request):
    """Two readers of one request, the second starting once the first has
    bytes: each one's (reads, failure) by name, and when the second started."""
    results = {}
    first_bytes = threading.Event()

    def reader(name, signal=None):
        results[name] = read_stream(m, s["ns"], s["op"], request, first=signal)

    a = threading.Thread(target=reader, args=("a", first_bytes), daemon=True)
    a.start()
    assert first_bytes.wait(10), "the first reader got no bytes"
    b_started = time.time()
    b = threading.Thread(target=reader, args=("b",), daemon=True)
    b.start()
    a.join(30)
    b.join(30)
    assert not a.is_alive() and not b.is_alive(), "a reader hung"
    return results, b_started


@pytest.mark.parametrize("kind", list(STREAMS))
def test_concurrent_identical_readers_share_one_stream(llm_mount, llm, kind):
    s = STREAMS[kind]
    m = llm_mount()
    request = s["build"]("stream-slow", f"shared {kind}")
    results, b_started = read_twice_at_once(m, s, request)
    calls = llm.calls_of(s["family"])
    assert len(calls) == 1
    call = calls[0]
    # The second reader joined while the upstream was still streaming...
    assert b_started < call["events"][-1][0] - 2 * llm.gap
    (a_reads, a_failure), (b_reads, b_failure) = results["a"], results["b"]
    assert a_failure is None and b_failure is None
    # ...got its first bytes before the upstream finished, and the same bytes in the end.
    assert b_reads[0][0] < call["events"][-1][0]
    assert joined(a_reads) == joined(b_reads) == call["sent"]
    assert sorted(outcomes(m)) == ["coalesced", "miss"]
    stats = m.stats(f"{s['ns']}.json")
    assert (stats["misses"], stats["coalesced"], stats["entries"]) == (1, 1, 1)
    # A later reader is a hit on the stored stream.
    assert bounded(lambda: m.query(s["ns"], s["op"], request)) == call["sent"]
    assert len(llm.calls_of(s["family"])) == 1


CUTS = [(kind, cut) for kind in STREAMS for cut in ("stream-cut", "stream-noterm")] + [("anthropic", "stream-error")]


@pytest.mark.parametrize("kind, cut", CUTS)
def test_stream_cut_before_its_terminal_event(llm_mount, llm, kind, cut):
    """stream-cut drops the connection mid-body; stream-noterm ends the body
    cleanly but without the terminal event; stream-error is Anthropic's error
    event mid-stream. Each: the reader gets the bytes, then EIO; nothing stored."""
    s = STREAMS[kind]
    m = llm_mount()
    request = s["build"](cut, f"cut {kind}")
    before = m.stats(f"{s['ns']}.json")
    reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
    call = llm.calls_of(s["family"])[0]
    assert call["sent"] and len(call["events"]) >= 3
    # Its bytes first (never a silent EOF), then EIO on a later read.
    assert failure == "EIO"
    assert reads and all(data for _, data in reads), "an empty read (EOF) came before the error"
    assert joined(reads) == call["sent"]
    rcid = request_cid(s["ns"], s["op"], request, dropped=s["dropped"])
    line = m.json_lines("errors")[-1]
    assert (line["errno"], line["request_cid"], line["namespace"]) == ("EIO", rcid, s["ns"])
    assert m.json_lines("log")[-1]["outcome"] == "error"
    # Nothing stored: no entry, the same figures, and the next query asks the upstream again.
    assert not os.path.exists(m.p("api", s["ns"], s["op"], rcid))
    after = m.stats(f"{s['ns']}.json")
    assert (after["entries"], after["misses"], after["hits"], after["bytes_stored"]) == \
           (before["entries"], before["misses"], before["hits"], before["bytes_stored"])
    assert after["upstream_errors"] == before["upstream_errors"] + 1
    assert m.query_errno(s["ns"], s["op"], request) == "EIO"
    assert len(llm.calls_of(s["family"])) == 2
    assert m.stats(f"{s['ns']}.json")["entries"] == before["entries"]


@pytest.mark.parametrize("kind", list(STREAMS))
def test_coalesced_readers_of_a_cut_stream_both_fail(llm_mount, llm, kind):
    s = STREAMS[kind]
    m = llm_mount()
    results, _ = read_twice_at_once(m, s, s["build"]("stream-cut", f"shared cut {kind}"))
    assert len(llm.calls_of(s["family"])) == 1
    sent = llm.calls_of(s["family"])[0]["sent"]
    for name in ("a", "b"):
        reads, failure = results[name]
        assert failure == "EIO", name
        assert joined(reads) == sent, name
    assert m.stats(f"{s['ns']}.json")["entries"] == 0


def test_ollama_streams_unless_told_not_to(llm_mount, llm):
    m = llm_mount()
    chat = {"model": "llama3.2", "messages": MESSAGES}
    generate = {"model": "llama3.2", "prompt": "Why is the sky blue?"}
    streamed_chat = bounded(lambda: m.query("ollama", "chat", chat))
    streamed_generate = bounded(lambda: m.query("ollama", "generate", generate))
    for body in (streamed_chat, streamed_generate):
        lines = body.strip().split(b"\n")
        assert len(lines) > 2 and all(json.loads(line)["done"] is False for line in lines[:-1])
        assert ndjson_done(body)
    assert "response" in json.loads(streamed_generate.split(b"\n")[0])
    whole = json.loads(bounded(lambda: m.query("ollama", "chat", {**chat, "stream": False})))
    assert whole["done"] is True and whole["message"]["content"]
    # Three requests, three keys (no default filled in): "stream" absent, and false, differ.
    assert len(llm.calls_of("ollama")) == 3
    for op, request in (("chat", chat), ("generate", generate), ("chat", {**chat, "stream": False})):
        assert os.path.exists(m.p("api", "ollama", op, request_cid("ollama", op, request)))
    # Replayed from the cache.
    assert bounded(lambda: m.query("ollama", "generate", generate)) == streamed_generate
    assert len(llm.calls_of("ollama")) == 3
    assert m.stats("ollama.json")["tokens_saved"] == USAGE["ollama"]["prompt_eval_count"] + USAGE["ollama"]["eval_count"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_reader_sees_the_end_only_after_it_is_logged(llm_mount, llm, kind):
    """The transaction's `log` line (and, for a failure, its `errors` line) is
    written before its reader can see EOF or the errno: a script that reads
    `errors` right after its read failed finds the reason there. Repeated on
    fresh mounts (the first line a mount writes is the slowest), since the
    window this guards is narrow."""
    s = STREAMS[kind]
    missing = []
    for attempt in range(4):
        m = llm_mount()
        for i in range(5):
            request = s["build"]("stream-noterm", f"ordering {kind} {attempt} {i}")
            reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
            assert failure == "EIO"
            rcid = request_cid(s["ns"], s["op"], request, dropped=s["dropped"])
            if rcid not in [line["request_cid"] for line in m.json_lines("errors")]:
                missing.append(("errors", attempt, i))
            request = s["build"](s["model"], f"ordering {kind} {attempt} {i}")
            reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
            assert failure is None
            rcid = request_cid(s["ns"], s["op"], request, dropped=s["dropped"])
            if (rcid, "miss") not in [(line["request_cid"], line["outcome"]) for line in m.json_lines("log")]:
                missing.append(("log", attempt, i))
        m.stop()
    assert missing == [], f"ended before its line was written: {missing}"


@pytest.mark.parametrize("kind", list(STREAMS))
def test_a_stream_may_outlive_the_upstream_timeout(llm_mount, llm, kind):
    """The upstream timeout bounds the wait for the head, not a streamed body
    (reasoning models stream for minutes): a stream that keeps sending runs
    past it to its end and is stored."""
    s = STREAMS[kind]
    llm.gap = 0.4  # every stream here runs well past the 1 s timeout
    m = llm_mount(upstream_timeout_s=1)
    request = s["build"]("stream-slow", f"long {kind}")
    started = time.time()
    reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
    assert failure is None
    assert time.time() - started > 1.5
    assert joined(reads) == llm.calls_of(s["family"])[0]["sent"]
    assert m.stats(f"{s['ns']}.json")["entries"] == 1


@pytest.mark.parametrize("kind", list(STREAMS))
def test_a_stream_past_its_total_cap(llm_mount, llm, kind):
    """`stream_max_s` caps a whole streamed answer: a stream still going then
    gives the reader its bytes, then ETIMEDOUT, and is not stored."""
    s = STREAMS[kind]
    m = llm_mount(upstream_timeout_s=30, stream_max_s=1)
    request = s["build"]("stream-slow", f"capped {kind}")
    started = time.time()
    reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request))
    assert failure == "ETIMEDOUT"
    assert time.time() - started < 2.5
    assert reads and all(data for _, data in reads)
    assert call_prefix(joined(reads), llm.calls_of(s["family"])[0]["sent"])
    assert "stream_max_s" in m.json_lines("errors")[-1]["message"]
    assert m.stats(f"{s['ns']}.json")["entries"] == 0
    assert not os.path.exists(m.p("api", s["ns"], s["op"], request_cid(s["ns"], s["op"], request, dropped=s["dropped"])))


@pytest.mark.parametrize("kind", list(STREAMS))
def test_a_stalled_stream_ends_by_the_idle_bound(llm_mount, llm, kind):
    """An upstream that sends a few events and then nothing, connection open:
    the reader gets those bytes, then ETIMEDOUT once `stream_idle_timeout_s`
    passed with no byte (never a reader, or a flight, waiting forever); nothing is stored."""
    s = STREAMS[kind]
    m = llm_mount(upstream_timeout_s=30, stream_idle_timeout_s=1)
    request = s["build"]("stream-stall", f"stall {kind}")
    started = time.time()
    try:
        reads, failure = bounded(lambda: read_stream(m, s["ns"], s["op"], request), timeout=10)
    finally:
        llm.release.set()
    assert failure == "ETIMEDOUT"
    assert time.time() - started < 3
    assert reads and all(data for _, data in reads)
    assert joined(reads) == llm.calls_of(s["family"])[0]["sent"]
    assert "sent nothing for 1 s" in m.json_lines("errors")[-1]["message"]
    assert m.stats(f"{s['ns']}.json")["entries"] == 0


def call_prefix(got, sent):
    return len(got) > 0 and sent.startswith(got)
