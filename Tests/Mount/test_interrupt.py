"""A reader waiting on a slow upstream can be interrupted; the fetch goes on."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import chat

READER = r"""
import os, signal, sys, time
class Interrupted(Exception):
    pass
def handler(*_):
    raise Interrupted()
signal.signal(signal.SIGUSR1, handler)
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
print("waiting", flush=True)
try:
    os.read(fd, 65536)
    print("not interrupted", flush=True)
except Interrupted:
    print("interrupted %.3f" % time.monotonic(), flush=True)
data = os.read(fd, 65536)
print("then %d bytes" % len(data), flush=True)
"""


def start_waiting_reader(mount, request):
    """A process that has written `request` and waits in its first read."""
    reader = subprocess.Popen([sys.executable, "-c", READER, mount.p("api", "openai", "chat.completions", "query"),
                               json.dumps(request)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "waiting"
    return reader


def test_interrupted_read_returns_and_the_transaction_stays_open(mount, fake):
    request = chat("interrupt me", model="slow-2")
    reader = start_waiting_reader(mount, request)
    time.sleep(0.5)
    sent = time.monotonic()
    reader.send_signal(signal.SIGUSR1)
    line = reader.stdout.readline().split()
    assert line[0] == "interrupted"
    assert float(line[1]) - sent < 0.5  # docs/REFERENCE.md §4: EINTR within 100 ms; generous on a shared machine
    rest = reader.stdout.readline().split()
    reader.wait(timeout=10)
    assert rest[0] == "then" and int(rest[1]) > 0
    assert len(fake.calls_to("/chat/completions")) == 1
    # The upstream call went on and filled the cache.
    mount.query("openai", "chat.completions", request)
    assert len(fake.calls_to("/chat/completions")) == 1


def test_a_killed_reader_leaves_no_stuck_process(mount, fake):
    request = chat("kill me", model="slow-2")
    reader = start_waiting_reader(mount, request)
    time.sleep(0.3)
    reader.kill()
    reader.wait(timeout=5)
    time.sleep(2.5)
    mount.query("openai", "chat.completions", request)
    assert len(fake.calls_to("/chat/completions")) == 1
