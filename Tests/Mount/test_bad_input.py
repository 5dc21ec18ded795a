"""Bad input of every kind (issue 5), request bodies and limits: each answered
with a clear errno and a line in `errors`; the daemon unharmed (a later good
query still works) and its memory bounded. test_bad_names.py has the rest.

One daemon serves the whole module, so every test also proves that whatever
the tests before it threw at the daemon left it able to answer."""
import errno
import json
import os
import time

import pytest

from bad_input_support import daemon, m  # noqa: F401  (fixtures)
from bad_input_support import CHAT, DEEP, MiB, errors_count, memory_kb, new_errors, os_errno, write_all
from cidlib import cid, request_cid

# --- query files: request bodies ------------------------------------------------

GOOD = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}'


def request_with(value):
    """A good request with one more member whose value is the given raw JSON bytes."""
    return GOOD[:-1] + b', "x": ' + value + b"}"


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
        assert os_errno(os.read, fd, 65536) == "EFBIG"
        assert os_errno(os.read, fd, 65536) == "EFBIG", "a later read fails the same way"
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
