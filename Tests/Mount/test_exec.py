"""The exec family through a real mount: allow-listed commands only, argv
without a shell, input files keyed by their content, per-command TTLs."""
import hashlib
import json
import os
import threading

import pytest

COMMANDS = {
    "cat": {"argv": ["/bin/cat"], "ttl": 777},
    "sha": {"argv": ["/usr/bin/sha256sum"], "ttl": 600, "inputs": True},
    "echo": {"argv": ["/bin/echo", "said:"]},
    "fail": {"argv": ["/bin/ls", "/nonexistent-cidcache-dir"]},
    "slow": {"argv": ["/bin/sleep", "30"], "timeout_s": 1},
}


@pytest.fixture
def m(make_mount):
    mount = make_mount(exec=COMMANDS).start()
    yield mount
    assert mount.process.poll() is None, "the daemon died: " + mount.daemon_output()


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log") if line["namespace"] == "exec"]


def test_listing_shows_the_allow_list(m):
    assert sorted(os.listdir(m.p("api", "exec"))) == sorted(COMMANDS)
    assert "exec" in os.listdir(m.p("api"))


def test_miss_then_hit_with_the_command_ttl(m):
    request = {"stdin": "hello from stdin\n"}
    assert m.query("exec", "cat", request) == b"hello from stdin\n"
    assert m.query("exec", "cat", request) == b"hello from stdin\n"
    assert outcomes(m) == ["miss", "hit"]
    entries = [name for name in os.listdir(m.p("api", "exec", "cat")) if name != "query"]
    assert len(entries) == 1
    path = m.p("api", "exec", "cat", entries[0])
    assert open(path, "rb").read() == b"hello from stdin\n"
    assert os.getxattr(path, "user.cidcache.ttl") == b"777"
    # Another stdin is another request.
    assert m.query("exec", "cat", {"stdin": "other"}) == b"other"
    assert outcomes(m)[-1] == "miss"


def test_input_file_content_is_in_the_key(m, tmp_path):
    data = tmp_path / "input.txt"
    data.write_bytes(b"version one")
    request = {"args": [str(data)], "files": {"input": str(data)}}
    first = m.query("exec", "sha", request)
    assert first.decode() == f"{hashlib.sha256(b'version one').hexdigest()}  {data}\n"
    assert m.query("exec", "sha", request) == first
    data.write_bytes(b"version two")
    second = m.query("exec", "sha", request)
    assert second.decode() == f"{hashlib.sha256(b'version two').hexdigest()}  {data}\n"
    assert outcomes(m) == ["miss", "hit", "miss"]
    cids = [line["request_cid"] for line in m.json_lines("log")]
    assert cids[0] == cids[1] != cids[2]
    # Back to the first content: the first entry answers again.
    data.write_bytes(b"version one")
    assert m.query("exec", "sha", request) == first
    assert outcomes(m)[-1] == "hit"
    # The key document holds the argv and the input's content CID, never the content.
    key = m.read("cid", cids[0]).decode()
    assert '"command":["/usr/bin/sha256sum"]' in key and '"input_cids":{"input":"bafkrei' in key


def test_missing_input_file(m, tmp_path):
    assert m.query_errno("exec", "sha", {"files": {"x": str(tmp_path / "absent")}}) == "ENOENT"


def test_files_need_inputs_true(m, tmp_path):
    data = tmp_path / "f"
    data.write_text("x")
    assert m.query_errno("exec", "cat", {"files": {"f": str(data)}}) == "EINVAL"


def test_not_allow_listed_is_eacces(m, tmp_path):
    marker = tmp_path / "ran"
    assert m.query_errno("exec", "touch", {"args": [str(marker)]}) == "EACCES"
    assert not marker.exists()
    line = m.json_lines("errors")[-1]
    assert line["errno"] == "EACCES" and line["op"] == "touch" and "allow-listed" in line["message"]
    # Names that could escape the tree do not even open.
    with pytest.raises(OSError):
        os.open(m.p("api", "exec", ".hidden", "query"), os.O_RDWR)


def test_failing_command_is_eio_with_stderr(m):
    assert m.query_errno("exec", "fail", {}) == "EIO"
    line = m.json_lines("errors")[-1]
    assert line["errno"] == "EIO" and "exited with status 2" in line["message"]
    assert "cannot access" in line["message"]
    assert m.stats("exec.json")["entries"] == 0


def test_timeout_is_etimedout(m):
    assert m.query_errno("exec", "slow", {}) == "ETIMEDOUT"


def test_nothing_runs_through_a_shell(m, tmp_path):
    marker = tmp_path / "pwned"
    args = [f"$(touch {marker})", f"; touch {marker}", f"`touch {marker}`", "*", "a|b", "&&", ">x"]
    out = m.query("exec", "echo", {"args": args})
    assert out.decode() == "said: " + " ".join(args) + "\n"
    assert not marker.exists()


def test_bad_requests_are_einval(m):
    assert m.query_errno("exec", "cat", {"args": "not a list"}) == "EINVAL"
    assert m.query_errno("exec", "cat", {"argv": ["/bin/sh", "-c", "id"]}) == "EINVAL"
    assert m.query_errno("exec", "cat", {"files": {"a": "relative/path"}}) == "EINVAL"


def test_failing_command_is_not_retried(make_mount, tmp_path):
    runs = tmp_path / "runs"
    script = 'echo run >> "$0"; exit 3'
    mount = make_mount(upstream_retries=3, retry_backoff_ms=10,
                       exec={"count": {"argv": ["/bin/sh", "-c", script, str(runs)]}}).start()
    assert mount.query_errno("exec", "count", {}) == "EIO"
    assert runs.read_text() == "run\n"


def test_commands_run_within_the_concurrency_limit(make_mount, tmp_path):
    trace = tmp_path / "trace"
    script = 'echo start >> "$0"; sleep 0.3; echo end >> "$0"'
    mount = make_mount(limits={"exec": {"concurrent": 1}},
                       exec={"stamp": {"argv": ["/bin/sh", "-c", script, str(trace)]}}).start()
    threads = [threading.Thread(target=mount.query, args=("exec", "stamp", {"stdin": str(i)})) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert trace.read_text().split() == ["start", "end"] * 4


def test_a_large_answer_is_served_from_its_file_by_every_door(m):
    """An answer over 16 KiB is kept in a file of its own: a query-file hit, the
    entry's file and its cid/ file all read it at the offsets asked (small
    reads here), byte for byte, and the log line has its size and CID."""
    stdin = "".join(f"line {i:06d} of a large answer\n" for i in range(8000))  # 248 000 bytes
    expected = stdin.encode()
    assert m.query("exec", "cat", {"stdin": stdin}) == expected
    fd = os.open(m.p("api", "exec", "cat", "query"), os.O_RDWR)
    try:
        os.write(fd, json.dumps({"stdin": stdin}).encode())
        got = b""
        while chunk := os.read(fd, 4096):
            got += chunk
    finally:
        os.close(fd)
    assert got == expected
    assert outcomes(m) == ["miss", "hit"]
    entries = [name for name in os.listdir(m.p("api", "exec", "cat")) if name != "query"]
    entry = m.p("api", "exec", "cat", entries[0])
    line = m.json_lines("log")[-1]
    assert line["bytes"] == len(expected) and line["cid"] == os.getxattr(entry, "user.cidcache.cid").decode()
    with open(entry, "rb") as f:
        assert f.read(1000) == expected[:1000] and f.read() == expected[1000:]
    assert open(m.p("cid", line["cid"]), "rb").read() == expected
    assert os.stat(m.p("cid", line["cid"])).st_size == len(expected)
