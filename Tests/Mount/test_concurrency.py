"""Concurrent identical misses, from threads and from processes: one upstream call."""
import json
import subprocess
import sys
import threading

from conftest import chat

READER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
out = b""
while True:
    data = os.read(fd, 65536)
    if not data:
        break
    out += data
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
