"""What the bad-input suites share (test_bad_input.py, test_bad_names.py): one daemon
per module against its own FakeOpenAI, and `m`, that daemon checked after every
test: still alive, still answering, its memory bounded."""
import errno
import json
import os
import tempfile

import pytest

from conftest import TEST_KEY, Mount, chat
from fake_openai import FakeOpenAI

ERROR_FIELDS = {"time", "namespace", "op", "request_cid", "errno", "status", "message", "pid"}
MiB = 1 << 20
RSS_GROWTH_LIMIT_KB = 100 * 1024
# Nesting deep enough to overflow a recursive parser's stack.
DEEP = 100_000
CHAT = ("api", "openai", "chat.completions")


def memory_kb(m):
    """VmRSS and VmHWM (peak RSS) of the daemon, in kB."""
    fields = {}
    with open(f"/proc/{m.process.pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


@pytest.fixture(scope="module")
def daemon():
    fake = FakeOpenAI(TEST_KEY)
    root = tempfile.mkdtemp(prefix="cidcache-bad-input-")
    env = dict(os.environ)
    env.update({"CIDCACHE_OPENAI_URL": fake.url, "CIDCACHE_OPENAI_KEY": TEST_KEY,
                "XDG_CACHE_HOME": os.path.join(root, "xdg")})
    m = Mount(root, env, {"upstream_timeout_s": 5, "upstream_retries": 0})
    m.fake = fake
    m.start()
    try:
        m.answer = m.query("openai", "chat.completions", chat("the good question"))
        m.baseline_rss = memory_kb(m)[0]
        m.checks = 0
        yield m
        assert m.process.poll() is None, "the daemon died: " + m.daemon_output()
        rss, peak = memory_kb(m)
        print(f"\nbad input: daemon RSS {m.baseline_rss // 1024} MiB at start, {rss // 1024} MiB at end, "
              f"peak {peak // 1024} MiB; {len(m.json_lines('errors'))} errors lines")
    finally:
        m.stop()
        fake.stop()


@pytest.fixture
def m(daemon):
    """The shared daemon; after each test it must still answer, within its memory bound."""
    yield daemon
    assert daemon.process.poll() is None, "the daemon died: " + daemon.daemon_output()
    assert daemon.query("openai", "chat.completions", chat("the good question")) == daemon.answer
    daemon.checks += 1
    fresh = daemon.query("openai", "chat.completions", chat(f"a fresh question {daemon.checks}"))
    assert json.loads(fresh)["object"] == "chat.completion"
    rss = memory_kb(daemon)[0]
    assert rss - daemon.baseline_rss < RSS_GROWTH_LIMIT_KB, f"daemon RSS grew from {daemon.baseline_rss} to {rss} kB"


def errors_count(m):
    return len(m.json_lines("errors"))


def new_errors(m, before):
    lines = m.json_lines("errors")[before:]
    for line in lines:
        assert set(line) == ERROR_FIELDS, line
    return lines


def os_errno(call, *args):
    """The errno name a call fails with, or None when it succeeds."""
    try:
        result = call(*args)
    except OSError as error:
        return errno.errorcode[error.errno]
    if isinstance(result, int) and call is os.open:
        os.close(result)
    return None


def write_all(fd, data):
    """Writes data whole (the kernel may split a big write and return a short
    count); the errno name of the first failing write, or None."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError as error:
            return errno.errorcode[error.errno]
    return None
