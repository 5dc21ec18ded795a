"""Bad input of every kind (issue 5): each answered with a clear errno and, for
query files, a line in `errors`; the daemon unharmed (a later good query still
works) and its memory bounded.

One daemon serves the whole module, so every test also proves that whatever
the tests before it threw at the daemon left it able to answer."""
import errno
import json
import os
import tempfile
import time

import pytest

from cidlib import cid, request_cid
from conftest import TEST_KEY, Mount, chat
from fake_openai import FakeOpenAI

ERROR_FIELDS = {"time", "namespace", "op", "request_cid", "errno", "status", "message", "pid"}
MiB = 1 << 20
RSS_GROWTH_LIMIT_KB = 100 * 1024
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


# --- query files: request bodies ------------------------------------------------

GOOD = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}'


def request_with(value):
    """A good request with one more member whose value is the given raw JSON bytes."""
    return GOOD[:-1] + b', "x": ' + value + b"}"


DEEP = 100_000
BAD_BODIES = {
    # malformed
    "garbage": b"{not json",
    "single quotes": b"{'model': 'gpt-4o-mini'}",
    "trailing comma": b'{"model": "gpt-4o-mini", "messages": [],}',
    "comment": b'{"model": "gpt-4o-mini", /* hi */ "messages": []}',
    "NaN": request_with(b"NaN"),
    "Infinity": request_with(b"-Infinity"),
    "leading zero": request_with(b"012"),
    "bare minus": request_with(b"-"),
    "byte order mark": b"\xef\xbb\xbf" + GOOD,
    "two documents": GOOD + GOOD,
    "trailing garbage": GOOD + b" x",
    "whitespace only": b" \n\t ",
    "empty": b"",
    # truncated
    "truncated in a key": GOOD[:12],
    "truncated in a string": GOOD[:-40],
    "truncated before the end": GOOD[:-1],
    "truncated escape": request_with(b'"\\u12'),
    "truncated in a number": request_with(b"1e"),
    # non-object
    "array": b"[1, 2]",
    "string": b'"just a string"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    # deep nesting: refused at a bounded depth, never a stack overflow
    "100k arrays open": b"[" * DEEP,
    "100k arrays closed": b"[" * DEEP + b"]" * DEEP,
    "100k objects open": b'{"a":' * DEEP,
    "100k objects closed": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "100k deep in a good request": request_with(b"[" * DEEP + b"]" * DEEP),
    "100k mixed": b'{"a":[' * (DEEP // 2) + b"1" + b"]}" * (DEEP // 2),
    # invalid UTF-8 in strings and keys
    "utf8 ff in a string": request_with(b'"\xff\xfe"'),
    "utf8 overlong slash": request_with(b'"\xc0\xaf"'),
    "utf8 truncated sequence": request_with(b'"\xe2\x82"'),
    "utf8 encoded surrogate": request_with(b'"\xed\xa0\x80"'),
    "utf8 beyond U+10FFFF": request_with(b'"\xf4\x90\x80\x80"'),
    "utf8 lone continuation": request_with(b'"a\x80b"'),
    "utf8 in a key": GOOD[:-1] + b', "k\xff": 1}',
    "utf8 in a nested key": request_with(b'{"\xc3": 1}'),
    "utf8 outside strings": GOOD[:-1] + b", \xff}",
    # NUL bytes
    "NUL in a string": request_with(b'"a\x00b"'),
    "NUL in a key": GOOD[:-1] + b', "a\x00b": 1}',
    "NUL between members": GOOD[:-1] + b",\x00\"y\": 1}",
    "NUL after the document": GOOD + b"\x00",
    "NUL before the document": b"\x00" + GOOD,
    "raw control byte in a string": request_with(b'"a\x01b"'),
    "raw newline in a string": request_with(b'"a\nb"'),
    # lone surrogates
    "lone high surrogate": request_with(b'"\\ud800"'),
    "lone low surrogate": request_with(b'"\\udc00"'),
    "reversed pair": request_with(b'"\\udc00\\ud800"'),
    "high surrogate then letter": request_with(b'"\\ud83dx"'),
    "lone surrogate in a key": GOOD[:-1] + b', "\\udfff": 1}',
    # integers beyond 2^53, numbers beyond a double
    "2^53 + 1": request_with(b"9007199254740993"),
    "-(2^53 + 1)": request_with(b"-9007199254740993"),
    "30 digits": request_with(b"123456789012345678901234567890"),
    "2^64": request_with(b"18446744073709551616"),
    "1e400": request_with(b"1e400"),
    "-1e400": request_with(b"-1e400"),
    "huge seed": GOOD[:-1] + b', "seed": 99999999999999999999999}',
    # duplicate keys
    "duplicate top-level key": b'{"model": "a", "model": "b", "messages": []}',
    "duplicate nested key": request_with(b'{"k": 1, "k": 1}'),
    # the control object, misused
    "cidcache not an object": GOOD[:-1] + b', "cidcache": true}',
    "cidcache unknown control": GOOD[:-1] + b', "cidcache": {"explode": true}}',
    "cidcache ttl negative": GOOD[:-1] + b', "cidcache": {"ttl": -1}}',
    "cidcache ttl string": GOOD[:-1] + b', "cidcache": {"ttl": "60"}}',
    "cidcache ttl fraction": GOOD[:-1] + b', "cidcache": {"ttl": 1.5}}',
    "cidcache ttl 1e300": GOOD[:-1] + b', "cidcache": {"ttl": 1e300}}',
    "cidcache refresh not bool": GOOD[:-1] + b', "cidcache": {"refresh": 1}}',
    # what the operation requires
    "no model": b'{"messages": []}',
    "empty object": b"{}",
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_request_body(m, name):
    body = BAD_BODIES[name]
    calls, before = len(m.fake.calls), errors_count(m)
    assert m.query_errno("openai", "chat.completions", body) == "EINVAL"
    lines = new_errors(m, before)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["errno"] == "EINVAL" and line["status"] is None and line["request_cid"] is None
    assert line["namespace"] == "openai" and line["op"] == "chat.completions"
    assert line["pid"] == os.getpid() and line["message"]
    assert len(m.fake.calls) == calls, "a refused request reached the upstream"


GOOD_ODD_BODIES = {
    # legal, if odd: answered, and keyed as written
    "escaped NUL in a string": request_with(b'"a\\u0000b"'),
    "escaped NUL in a key": GOOD[:-1] + b', "a\\u0000b": 1}',
    "surrogate pair": request_with(b'"\\ud83d\\ude00"'),
    "2^53 exactly": request_with(b"9007199254740992"),
    "-2^53 exactly": request_with(b"-9007199254740992"),
    "huge float": request_with(b"1.7976931348623157e308"),
    "tiny float": request_with(b"5e-324"),
    "400 levels of nesting": request_with(b"[" * 400 + b"]" * 400),
    "400 levels of objects": request_with(b'{"a":' * 400 + b"1" + b"}" * 400),
    "unicode keys": request_with('{"\u00c5": 1, "A\u030a": 2, "\U0001F600": 3, "\ufb33": 4}'.encode()),
}


@pytest.mark.parametrize("name", list(GOOD_ODD_BODIES))
def test_odd_but_legal_body_is_answered(m, name):
    body = GOOD_ODD_BODIES[name]
    answer = m.query("openai", "chat.completions", body)
    assert json.loads(answer)["object"] == "chat.completion"
    # Asked again: a hit with the same bytes, under the request CID a JCS encoder computes.
    assert m.query("openai", "chat.completions", body) == answer
    log = m.json_lines("log")[-1]
    assert log["outcome"] == "hit" and log["cid"] == cid(answer)
    assert log["request_cid"] == request_cid("openai", "chat.completions", json.loads(body))


def died(mount):
    """Whether the daemon is gone (a query that saw ENOTCONN may beat its exit by a moment)."""
    try:
        mount.process.wait(timeout=2)
    except Exception:
        return False
    return True


def crash_summary(mount):
    """The runtime failure and the project frames of a crashed daemon's backtrace."""
    lines = mount.daemon_output().splitlines()
    wanted = [line.strip() for line in lines if "runtime failure" in line or "Fatal error" in line
              or "/Sources/Cid" in line]
    return "\n".join(wanted[:8]) or "\n".join(lines[-20:])


def test_ttl_at_the_edge_of_int64(make_mount):
    """A TTL the parser accepts (a float literal, so not refused as a big
    integer) but that overflows Int64 when added to the fetch time: EINVAL or
    an answer, never a crash. (Own mount: a crash must not take the others down.)"""
    mount = make_mount().start()
    for ttl in (b"9.2233720368547748e18", b"9.2e18", b"4611686018427387904.0"):
        body = GOOD[:-1] + b', "cidcache": {"ttl": ' + ttl + b"}}"
        outcome = mount.query_errno("openai", "chat.completions", body)
        assert not died(mount), f"ttl {ttl.decode()} killed the daemon: " + crash_summary(mount)
        assert outcome in (None, "EINVAL"), (ttl, outcome)


def test_stale_window_at_the_edge_of_int64(make_mount, fake):
    """An entry whose expiry fits in Int64 but expiry + stale window does not:
    when a refresh of it fails upstream, the stale check must not overflow."""
    mount = make_mount().start()
    ttl = float(2 ** 63 - 1 - int(time.time()) - 43_200)  # now + ttl fits; + 86 400 s of stale window does not
    body = GOOD[:-1] + b', "cidcache": {"ttl": ' + repr(ttl).encode() + b"}}"
    first = mount.query_errno("openai", "chat.completions", body)
    assert not died(mount), "storing the entry killed the daemon: " + crash_summary(mount)
    assert first in (None, "EINVAL")
    fake.answer = lambda handler, raw: fake.error(handler, 500, None)
    outcome = mount.query_errno("openai", "chat.completions", GOOD[:-1] + b', "cidcache": {"refresh": true}}')
    assert not died(mount), "a failed refresh killed the daemon: " + crash_summary(mount)
    assert outcome in (None, "EIO"), outcome


def test_huge_request_is_refused_without_buffering_it(m):
    """1 GiB written in 1 MiB pieces: EFBIG on the write that crosses 8 MiB,
    on every later write and on the read; the daemon never holds it."""
    limit = 8 * MiB
    piece = b'{"model": "gpt-4o-mini", "messages": [], "pad": "' + b"a" * (MiB - 48)
    piece = piece[:MiB]
    filler = b"a" * MiB
    rss_before, peak_before = memory_kb(m)
    before = errors_count(m)
    fd = os.open(m.p(*CHAT, "query"), os.O_RDWR)
    accepted, failures, writes = 0, [], 0
    try:
        for index in range(1024):  # 1 GiB in all, if the daemon took it
            data = piece if index == 0 else filler
            writes += 1
            try:
                accepted += os.write(fd, data)
            except OSError as error:
                failures.append((index, errno.errorcode[error.errno]))
                if len(failures) == 5:
                    break
        with pytest.raises(OSError) as failure:
            os.read(fd, 65536)
        assert failure.value.errno == errno.EFBIG
        with pytest.raises(OSError) as failure:
            os.read(fd, 65536)
        assert failure.value.errno == errno.EFBIG
    finally:
        os.close(fd)
    # The first eight pieces fit exactly; the ninth crosses the limit, and so on.
    assert accepted == limit, accepted
    assert failures == [(8, "EFBIG"), (9, "EFBIG"), (10, "EFBIG"), (11, "EFBIG"), (12, "EFBIG")], failures
    lines = new_errors(m, before)
    assert lines and all(line["errno"] == "EFBIG" for line in lines)
    rss_after, peak_after = memory_kb(m)
    print(f"\n1 GiB request: {accepted // MiB} MiB accepted, {len(failures)} EFBIG writes; "
          f"daemon RSS {rss_before // 1024} -> {rss_after // 1024} MiB, peak {peak_before // 1024} -> {peak_after // 1024} MiB")
    assert rss_after - rss_before < 64 * 1024
    assert peak_after - peak_before < 64 * 1024, "the daemon held far more than the limit at some point"
    assert not any(b"pad" in c["body"] for c in m.fake.calls)


def test_limit_reached_exactly_is_not_too_large(m):
    """A body of exactly the limit is parsed, not refused as too large (EINVAL: it is no request)."""
    fd = os.open(m.p(*CHAT, "query"), os.O_RDWR)
    try:
        assert write_all(fd, b" " * (8 * MiB)) is None
        with pytest.raises(OSError) as failure:
            os.read(fd, 100)
        assert failure.value.errno == errno.EINVAL
    finally:
        os.close(fd)


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
