"""Bad input of every kind (issue 5), names, open modes and `ctl`: each answered
with a clear errno (and, for query files and `ctl`, a line in `errors`); the
daemon unharmed and its memory bounded. test_bad_input.py has request bodies.

One daemon serves the whole module, so every test also proves that whatever
the tests before it threw at the daemon left it able to answer."""
import errno
import json
import os

import pytest

from bad_input_support import daemon, m  # noqa: F401  (fixtures)
from bad_input_support import CHAT, DEEP, MiB, errors_count, memory_kb, new_errors, os_errno, write_all
from cidlib import request_cid
from conftest import chat

# --- unknown names, read-only files, odd names ---------------------------------

def test_unknown_namespace_or_operation(m):
    before = errors_count(m)
    for parts in (("api", "nope", "chat.completions", "query"), ("api", "openai", "nope", "query"),
                  ("api", "OpenAI", "chat.completions", "query"), ("api", "openai", "Chat.Completions", "query"),
                  ("api", "openai", "chat.completions", "nope"), ("api", "openai", "chat.completions", "Query"),
                  ("api", "openai", "chat.completions ", "query"), ("api", "openai.", "chat.completions", "query")):
        for flags in (os.O_RDWR, os.O_RDONLY, os.O_WRONLY):
            assert os_errno(os.open, m.p(*parts), flags) == "ENOENT", (parts, flags)
    assert errors_count(m) == before


def test_read_only_files_refuse_writes(m):
    request = chat("read only")
    m.query("openai", "chat.completions", request)
    entry = request_cid("openai", "chat.completions", request)
    body_cid = os.getxattr(m.p(*CHAT, entry), "user.cidcache.cid").decode()
    read_only = [("README",), ("stats", "all.json"), ("stats", "openai.json"), ("stats", "metrics.prom"),
                 ("errors",), ("log",), (*CHAT, entry), ("cid", body_cid), ("cid", entry)]
    for parts in read_only:
        path = m.p(*parts)
        before = m.read(*parts) if parts[0] not in ("errors", "log", "stats") else None
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC,
                      os.O_RDWR | os.O_CREAT):
            assert os_errno(os.open, path, flags) == "EACCES", (parts, flags)
        assert os_errno(os.truncate, path, 0) == "EACCES", parts
        assert os_errno(os.setxattr, path, "user.x", b"1") == "EACCES", parts
        if before is not None:
            assert m.read(*parts) == before
    # New names cannot be made anywhere.
    for parts in (("new",), ("cid", "new"), (*CHAT, "new"), ("api", "openai", "new")):
        assert os_errno(os.open, m.p(*parts), os.O_RDWR | os.O_CREAT, 0o600) == "EACCES", parts
        assert os_errno(os.mkdir, m.p(*parts)) == "EACCES", parts
    assert os_errno(os.rename, m.p("README"), m.p("README2")) == "EACCES"
    assert os_errno(os.open, m.p("ctl"), os.O_RDONLY) == "EACCES"
    assert m.query("openai", "chat.completions", request)


def test_odd_names_under_cid_and_api(m):
    request = chat("odd names")
    m.query("openai", "chat.completions", request)
    entry = request_cid("openai", "chat.completions", request)
    body_cid = os.getxattr(m.p(*CHAT, entry), "user.cidcache.cid").decode()
    names = [
        "..a", "a..", "...", "....", "..\\..\\README", entry + "..", ".." + entry,
        "%2F", "..%2F..%2FREADME", "%2e%2e", "\\", "a\\b", "\\x2f", "&#47;", "\u2215README", "\uff0fREADME",
        "\x01", "\n", "\t", "\r", "\x7f", "\x1b[31m", entry + "\n", "\n" + entry, entry + "\x01", body_cid + "\n",
        entry.upper(), "B" + entry[1:], entry[:-1], entry + "a", body_cid[:20],
        "b" + "a" * 254, "bafkrei" + "7" * 248, "z" + entry[1:], "f01551220" + "0" * 64,
        " " + entry, entry + " ", "\u00e9", "\ufffd", "query\n", "README",
        os.fsdecode(b"\xff\xfe"), os.fsdecode(b"bafkrei\xc0\xaf"),
    ]
    # Up to 1024 bytes a name reaches the daemon (FUSE's own limit); beyond PATH_MAX the kernel refuses it.
    too_long = ["b" + "a" * 255, "b" + "a" * 1023, "x" * 5000, "x" * 10_000, entry * 200]
    parents = [("cid",), ("api",), ("api", "openai"), CHAT, ("api", "openai", "embeddings")]
    allowed = {"ENOENT", "ENAMETOOLONG", "EINVAL"}
    for parent in parents:
        for name in names + too_long:
            path = m.p(*parent, name)
            expected = {"ENAMETOOLONG"} if len(name) > 4096 else allowed
            results = {
                "stat": os_errno(os.stat, path),
                "lstat": os_errno(os.lstat, path),
                "open r": os_errno(os.open, path, os.O_RDONLY),
                "open rw": os_errno(os.open, path, os.O_RDWR),
                "unlink": os_errno(os.unlink, path),
                "getxattr": os_errno(os.getxattr, path, "user.cidcache.cid"),
                "listdir": os_errno(os.listdir, path),
            }
            for op, outcome in results.items():
                assert outcome in expected, (parent, name[:40], op, outcome)
        assert m.process.poll() is None, m.daemon_output()[-2000:]
        os.listdir(m.p(*parent))
    # Nothing was removed by any of it.
    assert os.path.exists(m.p(*CHAT, entry)) and os.path.exists(m.p("cid", body_cid))
    assert m.read("cid", body_cid) == m.read(*CHAT, entry)
    # '..' is the kernel's: it never leaves the tree the daemon serves below the mount.
    assert m.read("cid", "..", "api", "..", "README") == m.read("README")


# --- one transaction per open, open modes --------------------------------------

def test_second_transaction_on_one_open(m):
    query = m.p(*CHAT, "query")
    answer = m.answer
    good = json.dumps(chat("the good question")).encode()

    # After the answer was read to its end.
    before = errors_count(m)
    fd = os.open(query, os.O_RDWR)
    try:
        os.write(fd, good)
        out = b""
        while chunk := os.read(fd, 65536):
            out += chunk
        assert out == answer
        for _ in range(3):
            assert os_errno(os.write, fd, good) == "EINVAL"
        assert os.read(fd, 65536) == b""
    finally:
        os.close(fd)
    lines = new_errors(m, before)
    assert [line["errno"] for line in lines] == ["EINVAL"] * 3

    # After the first byte only: the refused write leaves the answer intact.
    fd = os.open(query, os.O_RDWR)
    try:
        os.write(fd, good)
        out = os.read(fd, 1)
        assert os_errno(os.write, fd, b'{"model": "other"}') == "EINVAL"
        while chunk := os.read(fd, 65536):
            out += chunk
        assert out == answer
    finally:
        os.close(fd)

    # After a refused request: writes and reads keep failing.
    fd = os.open(query, os.O_RDWR)
    try:
        os.write(fd, b"{oops")
        assert os_errno(os.read, fd, 100) == "EINVAL"
        assert os_errno(os.write, fd, good) == "EINVAL"
        assert os_errno(os.read, fd, 100) == "EINVAL"
    finally:
        os.close(fd)

    # A read before any write ends an empty request.
    fd = os.open(query, os.O_RDWR)
    try:
        assert os_errno(os.read, fd, 100) == "EINVAL"
        assert os_errno(os.write, fd, good) == "EINVAL"
    finally:
        os.close(fd)


def test_open_modes_of_query_files(m):
    before = errors_count(m)
    for op in ("chat.completions", "completions", "embeddings"):
        path = m.p("api", "openai", op, "query")
        for flags in (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
            assert os_errno(os.open, path, flags) == "EINVAL", (op, flags)
    assert errors_count(m) == before, "a refused open mode is not logged"


# --- ctl ---------------------------------------------------------------------

BAD_CTL_LINES = {
    "not json": b"not json\n",
    "truncated": b'{"invalidate": {"namespace": "openai"\n',
    "array": b"[]\n",
    "string": b'"invalidate"\n',
    "empty object": b"{}\n",
    "unknown command": b'{"explode": true}\n',
    "invalidate not an object": b'{"invalidate": "openai"}\n',
    "no namespace": b'{"invalidate": {}}\n',
    "unknown namespace": b'{"invalidate": {"namespace": "nope"}}\n',
    "unknown op": b'{"invalidate": {"namespace": "openai", "op": "nope"}}\n',
    "namespace not a string": b'{"invalidate": {"namespace": 7}}\n',
    "match not an object": b'{"invalidate": {"namespace": "openai", "match": "x"}}\n',
    "invalid utf8": b'{"invalidate": {"namespace": "openai", "match": {"model": "\xff"}}}\n',
    "lone surrogate": b'{"invalidate": {"namespace": "openai", "match": {"model": "\\ud800"}}}\n',
    "duplicate keys": b'{"invalidate": {"namespace": "openai", "namespace": "openai"}}\n',
    "big integer": b'{"invalidate": {"namespace": "openai", "match": {"seed": 9007199254740993}}}\n',
    "NUL byte": b'{"invalidate"\x00: {"namespace": "openai"}}\n',
    "100k nesting": b"[" * DEEP + b"\n",
    "100k objects": b'{"a":' * DEEP + b"\n",
    "good then bad": b'{"invalidate": {"namespace": "openai", "op": "embeddings"}}\n{"nope": 1}\n',
}


@pytest.mark.parametrize("name", list(BAD_CTL_LINES))
def test_bad_ctl_line(m, name):
    before = errors_count(m)
    fd = os.open(m.p("ctl"), os.O_WRONLY)
    try:
        assert write_all(fd, BAD_CTL_LINES[name]) == "EINVAL"
        # The same open still takes a good line.
        assert write_all(fd, b'{"invalidate": {"namespace": "openai", "op": "completions"}}\n') is None
    finally:
        os.close(fd)
    lines = new_errors(m, before)
    assert len(lines) == 1, lines
    assert lines[0]["errno"] == "EINVAL" and lines[0]["message"].startswith("ctl:")
    assert lines[0]["pid"] == os.getpid()


def test_ctl_bad_last_line_without_newline_at_close(m):
    before = errors_count(m)
    fd = os.open(m.p("ctl"), os.O_WRONLY)
    os.write(fd, b"{broken")
    try:
        os.close(fd)  # the close runs it; close itself cannot fail the caller
    except OSError:
        pass
    lines = new_errors(m, before)
    assert len(lines) == 1 and lines[0]["message"].startswith("ctl:")


@pytest.mark.parametrize("shape", ["pieces", "one write", "valid json"])
def test_ctl_line_longer_than_a_mebibyte(m, shape):
    rss_before = memory_kb(m)[0]
    before = errors_count(m)
    fd = os.open(m.p("ctl"), os.O_WRONLY)
    try:
        if shape == "pieces":
            outcome, written = None, 0
            while outcome is None and written < 4 * MiB:
                outcome = write_all(fd, b"x" * (256 * 1024))
                written += 256 * 1024
            assert outcome == "EINVAL" and written <= MiB + 256 * 1024, (outcome, written)
        else:
            # One write call: it fails, or the kernel split it and the part that
            # crossed the limit failed (a short count: the rest was never taken).
            line = b"y" * (3 * MiB) + b"\n" if shape == "one write" else \
                b'{"invalidate": {"namespace": "openai", "match": {"model": "' + b"z" * (2 * MiB) + b'"}}}\n'
            try:
                written = os.write(fd, line)
                assert written <= MiB + 256 * 1024, written
            except OSError as error:
                assert error.errno == errno.EINVAL
        assert write_all(fd, b'\n{"invalidate": {"namespace": "openai", "op": "completions"}}\n') is None
    finally:
        os.close(fd)
    lines = new_errors(m, before)
    assert lines and all(line["errno"] == "EINVAL" and line["message"].startswith("ctl:") for line in lines)
    assert any("longer" in line["message"] for line in lines), lines
    assert memory_kb(m)[0] - rss_before < 64 * 1024
