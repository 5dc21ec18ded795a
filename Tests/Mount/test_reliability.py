"""Upstream faults and limits: retries with backoff, stale-if-error, queued bursts."""
import os
import threading
import time

from cidlib import request_cid
from conftest import chat


def test_retries_ride_out_server_faults(make_mount, fake):
    m = make_mount(upstream_retries=2, retry_backoff_ms=50).start()
    assert m.query("openai", "chat.completions", chat("flaky", model="flaky-2"))
    assert len(fake.calls_to("/chat/completions")) == 3
    assert m.stats("openai.json")["upstream_errors"] == 0


def test_retry_after_is_honoured(make_mount, fake):
    m = make_mount(upstream_retries=1, retry_backoff_ms=10).start()
    started = time.time()
    assert m.query("openai", "chat.completions", chat("rate limited", model="flaky429-1"))
    assert time.time() - started >= 0.9
    assert len(fake.calls_to("/chat/completions")) == 2


def test_retries_are_bounded(make_mount, fake):
    m = make_mount(upstream_retries=2, retry_backoff_ms=10).start()
    assert m.query_errno("openai", "chat.completions", chat("always failing", model="fail-500")) == "EIO"
    assert len(fake.calls_to("/chat/completions")) == 3


def test_stale_entry_served_when_the_upstream_fails(make_mount, fake):
    m = make_mount(stale_window_s=3600).start()
    request = chat("stale")
    body = m.query("openai", "chat.completions", {**request, "cidcache": {"ttl": 1}})
    time.sleep(1.5)
    assert not os.path.exists(m.p("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request)))
    # The upstream now fails this request: the expired entry stands in for it.
    fake.answer = lambda handler, raw: fake.error(handler, 500, None)
    assert m.query("openai", "chat.completions", request) == body
    assert m.json_lines("log")[-1]["outcome"] == "stale"
    assert m.stats("openai.json")["stale_served"] == 1


def test_a_burst_of_misses_is_queued_within_the_limit(make_mount, fake):
    m = make_mount(limits={"openai": {"concurrent": 2}}).start()
    answers = []

    def ask(i):
        answers.append(m.query("openai", "chat.completions", chat(f"burst {i}", model="slow-0.3")))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 8
    assert fake.peak == 2
