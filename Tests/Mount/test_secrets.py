"""Credentials go upstream only: never into the data dir, a file of the
mount, a listing, an xattr, the CLI's output or the daemon's own output;
fragments an upstream echoes are scrubbed."""
import os
import re

import pytest

from conftest import TEST_KEY, chat

WRONG_KEY = "sk-test-wrong-key-for-fake-0042"
REAL_LOOKING = re.compile(rb"sk-[A-Za-z0-9]{20,}")


def everything_visible(m):
    """Every byte a user of the mount can see, file names and xattrs included."""
    seen = []
    for folder, dirs, files in os.walk(m.path):
        for name in dirs + files:
            path = os.path.join(folder, name)
            seen.append(name.encode())
            try:
                for attr in os.listxattr(path):
                    seen.append(attr.encode() + b"=" + os.getxattr(path, attr))
            except OSError:
                pass
        for name in files:
            path = os.path.join(folder, name)
            if os.path.relpath(path, m.path) in ("ctl",) or name == "query":
                continue
            with open(path, "rb") as f:
                seen.append(f.read())
    return b"\n".join(seen)


def everything_stored(m):
    seen = []
    for folder, _, files in os.walk(m.root):
        if os.path.commonpath([folder, m.path]) == m.path:
            continue
        for name in files:
            seen.append(name.encode())
            with open(os.path.join(folder, name), "rb") as f:
                seen.append(f.read())
    return b"\n".join(seen)


def assert_no_trace(blob, key):
    assert key.encode() not in blob
    assert key[-12:].encode() not in blob  # nor a recognizable tail
    assert not REAL_LOOKING.search(blob)


def test_the_test_key_does_not_look_real():
    assert not REAL_LOOKING.search(TEST_KEY.encode()) and not REAL_LOOKING.search(WRONG_KEY.encode())


def test_a_refused_key_echoed_by_the_upstream_is_scrubbed(make_mount, fake):
    m = make_mount()
    m.env["CIDCACHE_OPENAI_KEY"] = WRONG_KEY  # the fake expects TEST_KEY: it answers 401 and echoes this one
    m.start()
    assert m.query_errno("openai", "chat.completions", chat("wrong key")) == "EACCES"
    assert fake.calls_to("/chat/completions")[0]["headers"]["Authorization"] == f"Bearer {WRONG_KEY}"
    line = m.json_lines("errors")[-1]
    assert line["errno"] == "EACCES" and line["status"] == 401
    assert "0042" not in line["message"] and "wrong-key" not in line["message"]
    visible = everything_visible(m)
    cli = m.cli("stats").stdout + m.cli("stats", "--json", check=False).stdout
    assert m.stop() == 0
    for blob in (visible, cli, everything_stored(m)):
        assert_no_trace(blob, WRONG_KEY)
        assert b"0042" not in blob


def test_the_key_leaves_no_trace_after_a_busy_session(make_mount, fake):
    m = make_mount()
    m.start()
    m.query("openai", "chat.completions", chat("busy 1"))
    m.query("openai", "chat.completions", chat("busy 1"))
    m.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": "busy"})
    m.query("openai", "chat.completions", chat("busy stream", stream=True))
    for model in ("fail-400", "fail-401", "fail-404", "fail-429", "fail-500"):
        m.query_errno("openai", "chat.completions", chat("busy", model=model))
    cli = m.cli("query", "openai", "chat.completions", "--meta", stdin=b'{"model":"m","messages":[]}')
    visible = everything_visible(m)
    assert m.stop() == 0
    for blob in (visible, cli.stdout + cli.stderr, everything_stored(m)):
        assert_no_trace(blob, TEST_KEY)
        assert TEST_KEY[-4:].encode() + b"." not in blob  # the echo of fail-401 ends "...0001."


@pytest.mark.parametrize("name", ["errors", "log"])
def test_log_files_carry_no_headers(mount, name):
    mount.query_errno("openai", "chat.completions", chat("headers", model="fail-401"))
    mount.query("openai", "chat.completions", chat("headers"))
    blob = mount.read(name)
    assert b"bearer" not in blob.lower() and b"authorization" not in blob.lower()
