"""Upstream faults and limits: retries with backoff, stale-if-error, queued
bursts; store faults: disk budget, verify, kill -9, a full disk."""
import errno
import json
import os
import threading
import time

from cidlib import cid, request_cid
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


def test_a_spent_per_minute_budget_is_ebusy_within_the_timeout(make_mount, fake):
    """A call the minute's budget could start only past upstream_timeout_s is
    EBUSY at once, with an errors line, never a wait of up to a minute."""
    m = make_mount(upstream_timeout_s=2, limits={"openai": {"per_minute": 1}}).start()
    m.query("openai", "chat.completions", chat("the minute's one call"))
    asked = time.monotonic()
    assert m.query_errno("openai", "chat.completions", chat("one too many")) == "EBUSY"
    assert time.monotonic() - asked < 2
    assert "per_minute" in m.json_lines("errors")[-1]["message"]
    assert len(fake.calls_to("/chat/completions")) == 1


def test_disk_budget_evicts_least_recently_used(make_mount):
    m = make_mount(disk_budget_bytes=6000).start()
    for i in range(30):
        m.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": f"budget {i}"})
    # The maintenance pass runs every second: wait until two passes agree.
    stats, previous = m.stats("openai.json"), None
    while previous is None or stats["evictions"] != previous["evictions"]:
        time.sleep(1.1)
        previous, stats = stats, m.stats("openai.json")
    assert stats["evictions"] > 0
    assert stats["cid_index"]["total_bytes"] <= 6000
    listed = [n for n in os.listdir(m.p("api", "openai", "embeddings")) if n != "query"]
    assert len(listed) == 30 - stats["evictions"]
    # The newest answers are the ones kept.
    newest = {"model": "text-embedding-3-small", "input": "budget 29"}
    assert request_cid("openai", "embeddings", newest) in listed


def test_verify_repairs_a_damaged_store(make_mount):
    import sqlite3
    m = make_mount().start()
    small = m.query("openai", "chat.completions", chat("to damage"))  # kept in the index
    large_request = {"model": "text-embedding-3-small", "input": "to damage", "dimensions": 4000}
    large = m.query("openai", "embeddings", large_request)  # kept in a file
    assert len(small) < 16384 < len(large)
    kept = m.query("openai", "chat.completions", chat("to keep"))
    m.stop()
    with sqlite3.connect(os.path.join(m.data, "index.sqlite")) as db:
        db.execute("UPDATE blobs SET inline = ? WHERE cid = ?", (b"not the answer", cid(small)))
    damaged = [os.path.join(folder, name) for folder, _, files in os.walk(os.path.join(m.data, "blobs"))
               for name in files if name == cid(large)][0]
    with open(damaged, "wb") as f:
        f.write(b"not the answer")
    result = m.cli("verify")
    assert b"bad blobs dropped: 2" in result.stdout and b"entries dropped:   2" in result.stdout
    m.start()
    assert m.query("openai", "chat.completions", chat("to keep")) == kept
    assert m.json_lines("log")[-1]["outcome"] == "hit"
    assert m.query("openai", "chat.completions", chat("to damage")) == small
    assert m.query("openai", "embeddings", large_request) == large
    assert [line["outcome"] for line in m.json_lines("log")[-2:]] == ["miss", "miss"]


def test_verify_refuses_a_mounted_store(mount):
    result = mount.cli("verify", check=False)
    assert result.returncode != 0 and b"unmount" in result.stderr


def test_kill_during_a_storm_of_misses_loses_nothing(make_mount, fake):
    import signal
    import subprocess
    import sys
    from cidlib import JSON_CODEC, cid
    m = make_mount().start()
    storm = r"""
import json, os, sys
path = sys.argv[1]
for i in range(int(sys.argv[3])):
    try:
        fd = os.open(path, os.O_RDWR)
        os.write(fd, json.dumps({"model": "slow-0.05", "messages": [{"role": "user", "content": "%s %d" % (sys.argv[2], i)}]}).encode())
        while os.read(fd, 65536):
            pass
        os.close(fd)
    except OSError:
        pass
"""
    query = m.p("api", "openai", "chat.completions", "query")
    workers = [subprocess.Popen([sys.executable, "-c", storm, query, f"storm {w}", "200"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for w in range(6)]
    time.sleep(2.5)
    m.process.send_signal(signal.SIGKILL)
    m.process.wait()
    for w in workers:
        w.kill()
        w.wait()
    m.stop()
    m.start()
    assert os.listdir(os.path.join(m.data, "tmp")) == []  # a half-written file never outlives the next mount
    listed = [n for n in os.listdir(m.p("api", "openai", "chat.completions")) if n != "query"]
    assert listed
    for name in listed:
        data = m.read("api", "openai", "chat.completions", name)
        assert cid(data) == os.getxattr(m.p("api", "openai", "chat.completions", name), "user.cidcache.cid").decode()
        assert cid(m.read("cid", name), JSON_CODEC) == name
    m.stop()
    result = m.cli("verify")
    assert b"index integrity:   ok" in result.stdout and b"bad blobs dropped: 0" in result.stdout


def fill_disk(path):
    """Writes zeros to path until the file system is full."""
    block = b"\0" * (1 << 16)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(block)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                break
        while True:  # the last partial block
            try:
                f.write(b"\0" * 512)
            except OSError:
                return


def test_full_disk_serves_what_is_stored_and_stores_nothing_new(make_mount, fake):
    import subprocess
    m = make_mount()
    os.makedirs(m.data, mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "cidcache-test-full", m.data], check=True)
    try:
        m.start()
        requests = [chat(f"stored before the disk filled {i}") for i in range(3)]
        stored = [m.query("openai", "chat.completions", r) for r in requests]
        time.sleep(1.2)  # let the statistics reach the index
        fill_disk(os.path.join(m.data, "filler"))

        # A miss is still answered (the upstream was paid for); only the cache
        # misses out. (An answer this large needs a file; a small one may still
        # fit in the index's free pages.)
        late = {"model": "text-embedding-3-small", "input": "asked while the disk is full", "dimensions": 4000}
        answer = m.query("openai", "embeddings", late)
        assert len(json.loads(answer)["data"][0]["embedding"]) == 4000
        error = m.json_lines("errors")[-1]
        assert error["errno"] == "ENOSPC" and error["request_cid"] == request_cid("openai", "embeddings", late)
        assert not os.path.exists(m.entry("openai", "embeddings", late))
        assert m.query("openai", "embeddings", late) == answer
        assert len(fake.calls_to("/embeddings")) == 2  # asked again: nothing was stored
        assert os.listdir(os.path.join(m.data, "tmp")) == []

        # Every stored answer stays readable: as a hit, as an entry, as its cid/ file.
        for request, body in zip(requests, stored):
            assert m.query("openai", "chat.completions", request) == body
            assert m.read("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request)) == body
            assert m.read("cid", cid(body)) == body
        assert m.json_lines("log")[-1]["outcome"] == "hit"

        # The daemon restarts on the full disk and still serves them.
        m.stop()
        m.start()
        for request, body in zip(requests, stored):
            assert m.read("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request)) == body

        # Room again: the next miss is stored.
        os.remove(os.path.join(m.data, "filler"))
        assert m.query("openai", "embeddings", late) == answer
        assert os.path.exists(m.entry("openai", "embeddings", late))
        assert m.query("openai", "embeddings", late) == answer
        assert m.json_lines("log")[-1]["outcome"] == "hit"
    finally:
        m.stop()
        subprocess.run(["umount", "-l", m.data])
