"""Failures reach the reader as the errno of docs/REFERENCE.md §5, each with a line in errors."""
import errno
import json
import os
import time

import pytest

from conftest import chat

ERROR_FIELDS = {"time", "namespace", "op", "request_cid", "errno", "status", "message", "pid"}


def last_error(mount):
    line = mount.json_lines("errors")[-1]
    assert set(line) == ERROR_FIELDS
    return line


@pytest.mark.parametrize("body, expected", [
    (b"{not json", "EINVAL"),
    (b"[1, 2]", "EINVAL"),
    (b'"just a string"', "EINVAL"),
    (b'{"model": "m", "model": "n", "messages": []}', "EINVAL"),
    (b'{"model": "m", "messages": [], "seed": 9007199254740993}', "EINVAL"),
    (b'{"model": "m", "messages": [], "x": "\xff\xfe"}', "EINVAL"),
    (b'{"model": "m", "messages": [], "x": "\\ud800"}', "EINVAL"),
    (b'{"messages": []}', "EINVAL"),
    (b"", "EINVAL"),
])
def test_bad_requests(mount, fake, body, expected):
    assert mount.query_errno("openai", "chat.completions", body) == expected
    line = last_error(mount)
    assert line["errno"] == expected and line["request_cid"] is None and line["status"] is None
    assert line["pid"] == os.getpid()
    assert not fake.calls


@pytest.mark.parametrize("model, expected, status", [
    ("fail-400", "EINVAL", 400), ("fail-401", "EACCES", 401), ("fail-404", "ENOENT", 404),
    ("fail-429", "EBUSY", 429), ("fail-500", "EIO", 500),
])
def test_upstream_statuses(mount, model, expected, status):
    request = chat("status", model=model)
    assert mount.query_errno("openai", "chat.completions", request) == expected
    line = last_error(mount)
    assert line["errno"] == expected and line["status"] == status and line["request_cid"].startswith("baga")
    # Errors are never cached: the same question asks again.
    assert mount.query_errno("openai", "chat.completions", request) == expected
    assert mount.stats("openai.json")["upstream_errors"] == 2
    assert mount.stats("openai.json")["entries"] == 0


def test_upstream_echo_of_the_key_is_scrubbed(mount):
    mount.query_errno("openai", "chat.completions", chat("echo", model="fail-401"))
    assert "0001" not in last_error(mount)["message"]


def test_timeout(make_mount):
    m = make_mount(upstream_timeout_s=1).start()
    assert m.query_errno("openai", "chat.completions", chat("timeout", model="slow-3")) == "ETIMEDOUT"
    assert last_error(m)["errno"] == "ETIMEDOUT"


def test_unreachable_upstream(make_mount):
    m = make_mount()
    m.env["CIDCACHE_OPENAI_URL"] = "http://127.0.0.1:9/v1"
    m.start()
    assert m.query_errno("openai", "chat.completions", chat("nobody home")) == "EIO"


def test_body_cut_short_is_eio_and_not_stored(mount):
    request = chat("cut", model="stream-cut")
    assert mount.query_errno("openai", "chat.completions", request) == "EIO"
    assert mount.stats("openai.json")["entries"] == 0


def test_oversize_request(make_mount):
    m = make_mount(request_limit_bytes=1024).start()
    fd = os.open(m.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    try:
        os.write(fd, b'{"model": "m", "messages": [], "pad": "')
        with pytest.raises(OSError) as failure:
            os.write(fd, b"a" * 2000)
        assert failure.value.errno == errno.EFBIG
        with pytest.raises(OSError) as failure:
            os.read(fd, 100)
        assert failure.value.errno == errno.EFBIG
    finally:
        os.close(fd)
    assert last_error(m)["errno"] == "EFBIG"


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY])
def test_wrong_open_mode(mount, flags):
    with pytest.raises(OSError) as failure:
        os.open(mount.p("api", "openai", "chat.completions", "query"), flags)
    assert failure.value.errno == errno.EINVAL


def test_unknown_namespace_or_operation(mount):
    for path in (("api", "nope", "chat.completions", "query"), ("api", "openai", "nope", "query")):
        with pytest.raises(OSError) as failure:
            os.open(mount.p(*path), os.O_RDWR)
        assert failure.value.errno == errno.ENOENT


def test_one_transaction_per_open(mount):
    fd = os.open(mount.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    try:
        os.write(fd, b'{"model": "m", "messages": []}')
        assert os.read(fd, 65536)
        with pytest.raises(OSError) as failure:
            os.write(fd, b"{}")
        assert failure.value.errno == errno.EINVAL
    finally:
        os.close(fd)


def test_read_only_files_refuse_writes(mount):
    for path in (("README",), ("stats", "all.json"), ("errors",)):
        with pytest.raises(OSError) as failure:
            os.open(mount.p(*path), os.O_WRONLY)
        assert failure.value.errno == errno.EACCES


def test_offline_miss(make_mount):
    m = make_mount(offline=True).start()
    assert m.query_errno("openai", "chat.completions", chat("offline")) == "ENETUNREACH"


@pytest.mark.parametrize("body", [
    b"[1]", b"null", b"42",
    b'{"model": "m", "messages": [], "seed": -9007199254740993}',
    b'{"model": "m", "messages": [], "seed": 1e400}',
    b'{"model": "m", "messages": [], "a": {"b": 1, "b": 2}}',
    b'{"model": "m", "messages": []} trailing',
])
def test_more_bad_requests(mount, fake, body):
    assert mount.query_errno("openai", "chat.completions", body) == "EINVAL"
    assert last_error(mount)["errno"] == "EINVAL"
    assert not fake.calls


def test_integers_up_to_2_53_are_fine(mount, fake):
    mount.query("openai", "chat.completions", b'{"model": "m", "messages": [], "seed": 9007199254740992}')
    mount.query("openai", "chat.completions", b'{"model": "m", "messages": [], "seed": -9007199254740992}')
    assert len(fake.calls) == 2


def test_upstream_error_lines_name_the_request(mount):
    from cidlib import request_cid
    request = chat("which request", model="fail-404")
    assert mount.query_errno("openai", "chat.completions", request) == "ENOENT"
    line = last_error(mount)
    assert line["request_cid"] == request_cid("openai", "chat.completions", request)
    assert (line["namespace"], line["op"], line["status"], line["pid"]) == ("openai", "chat.completions", 404, os.getpid())
    assert isinstance(line["message"], str) and line["message"]
    assert mount.json_lines("log")[-1]["outcome"] == "error"


def test_errors_of_open_are_not_logged(mount):
    for flags in (os.O_RDONLY, os.O_WRONLY):
        with pytest.raises(OSError):
            os.open(mount.p("api", "openai", "chat.completions", "query"), flags)
    assert mount.json_lines("errors") == []


def test_request_limit_boundary(make_mount):
    m = make_mount(request_limit_bytes=1024).start()
    fd = os.open(m.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    try:
        head = b'{"model": "gpt-4o-mini", "messages": [], "pad": "'
        tail = b'"}'
        os.write(fd, head)
        os.write(fd, b"a" * (1024 - len(head) - len(tail)))
        os.write(fd, tail)  # exactly at the limit: still fine
        assert json.loads(b"".join(iter(lambda: os.read(fd, 65536), b"")))["object"] == "chat.completion"
    finally:
        os.close(fd)
    fd = os.open(m.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    try:
        os.write(fd, b" " * 1024)
        with pytest.raises(OSError) as failure:
            os.write(fd, b"{")
        assert failure.value.errno == errno.EFBIG
        with pytest.raises(OSError) as failure:
            os.write(fd, b"}")
        assert failure.value.errno == errno.EFBIG
    finally:
        os.close(fd)
    # The transaction died with its file; the next one is fresh.
    assert m.query("openai", "chat.completions", chat("after efbig"))


def test_timeout_error_line(make_mount, fake):
    m = make_mount(upstream_timeout_s=1).start()
    started = time.monotonic()
    assert m.query_errno("openai", "chat.completions", chat("timeout line", model="slow-4")) == "ETIMEDOUT"
    assert time.monotonic() - started < 3.5
    line = last_error(m)
    assert line["status"] is None and line["request_cid"].startswith("baga")
    assert m.stats("openai.json")["entries"] == 0


def test_an_abandoned_transaction_costs_nothing(mount, fake):
    # Opened, written, closed without a read: no upstream call, no log line.
    fd = os.open(mount.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    os.write(fd, json.dumps(chat("never read")).encode())
    os.close(fd)
    fd = os.open(mount.p("api", "openai", "chat.completions", "query"), os.O_RDWR)
    os.close(fd)
    time.sleep(0.3)
    assert not fake.calls
    assert mount.json_lines("log") == []


def test_a_failure_is_not_cached_and_success_follows(mount, fake):
    request = chat("eventually", model="flaky-1")
    assert mount.query_errno("openai", "chat.completions", request) == "EIO"
    body = mount.query("openai", "chat.completions", request)
    assert json.loads(body)["object"] == "chat.completion"
    assert mount.query("openai", "chat.completions", request) == body
    assert len(fake.calls_to("/chat/completions")) == 2
