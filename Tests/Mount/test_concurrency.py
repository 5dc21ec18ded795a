"""Concurrent identical misses, from threads and from processes: one upstream call."""
import json
import subprocess
import sys
import threading
import time

from conftest import chat

READER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
out = b"".join(iter(lambda: os.read(fd, 65536), b""))  # read until EOF
os.close(fd)
sys.stdout.buffer.write(out)
"""


def test_eight_threads_one_call(mount, fake):
    request = chat("threads", model="slow-1")
    answers = [None] * 8

    def ask(i):
        answers[i] = mount.query("openai", "chat.completions", request)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(set(answers)) == 1 and answers[0]
    assert len(fake.calls_to("/chat/completions")) == 1
    outcomes = sorted(line["outcome"] for line in mount.json_lines("log"))
    assert outcomes == ["coalesced"] * 7 + ["miss"]
    assert mount.stats("openai.json")["coalesced"] == 7


def test_eight_processes_one_call(mount, fake):
    request = json.dumps(chat("processes", model="slow-1"))
    query = mount.p("api", "openai", "chat.completions", "query")
    readers = [subprocess.Popen([sys.executable, "-c", READER, query, request], stdout=subprocess.PIPE)
               for _ in range(8)]
    answers = [r.communicate(timeout=30)[0] for r in readers]
    assert all(r.returncode == 0 for r in readers)
    assert len(set(answers)) == 1 and answers[0]
    assert len(fake.calls_to("/chat/completions")) == 1
    assert len({line["pid"] for line in mount.json_lines("log")}) == 8


def test_a_slow_upstream_never_stalls_other_reads(mount):
    done = threading.Event()

    def slow():
        mount.query("openai", "chat.completions", chat("stalled", model="slow-2"))
        done.set()

    threading.Thread(target=slow).start()
    for i in range(20):
        mount.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": f"meanwhile {i}"})
        mount.read("stats", "all.json")
    assert not done.is_set()
    assert done.wait(10)


def test_server_delay_threads_and_processes_together(mount, fake):
    """8 identical misses at once, half from threads and half from processes,
    against a slow server (every answer delayed): one upstream call."""
    fake.delay = 1.0
    request = {"model": "text-embedding-3-small", "input": "all at once"}
    query = mount.p("api", "openai", "embeddings", "query")
    readers = [subprocess.Popen([sys.executable, "-c", READER, query, json.dumps(request)], stdout=subprocess.PIPE)
               for _ in range(4)]
    answers = [None] * 4

    def ask(i):
        answers[i] = mount.query("openai", "embeddings", request)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    answers += [r.communicate(timeout=30)[0] for r in readers]
    for t in threads:
        t.join(timeout=30)
    assert len(set(answers)) == 1 and json.loads(answers[0])["object"] == "list"
    assert len(fake.calls_to("/embeddings")) == 1
    outcomes = sorted(line["outcome"] for line in mount.json_lines("log"))
    assert outcomes == ["coalesced"] * 7 + ["miss"]
    stats = mount.stats("openai.json")
    assert (stats["misses"], stats["coalesced"], stats["api_calls_saved"]) == (1, 7, 7)


def test_different_misses_run_in_parallel(mount, fake):
    answers = []
    threads = [threading.Thread(target=lambda i=i: answers.append(
        mount.query("openai", "chat.completions", chat(f"parallel {i}", model="slow-1")))) for i in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(set(answers)) == 4
    assert time.monotonic() - started < 3
    assert fake.peak == 4


def test_a_late_reader_of_a_fetch_in_flight_is_coalesced(mount, fake):
    request = chat("late reader", model="slow-1.5")
    first = []
    t = threading.Thread(target=lambda: first.append(mount.query("openai", "chat.completions", request)))
    t.start()
    time.sleep(0.7)
    second = mount.query("openai", "chat.completions", request)
    t.join(timeout=30)
    assert first == [second]
    assert len(fake.calls_to("/chat/completions")) == 1
    assert sorted(line["outcome"] for line in mount.json_lines("log")) == ["coalesced", "miss"]
