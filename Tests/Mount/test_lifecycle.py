"""Mounting, unmounting, signals, stale mounts, persistence and secrecy."""
import errno
import json
import os
import signal
import subprocess
import time

from cidlib import request_cid
from conftest import BINARY, TEST_KEY, chat, is_mounted


def test_sigterm_and_sigint_unmount_and_exit(make_mount):
    for sig in (signal.SIGTERM, signal.SIGINT):
        m = make_mount().start()
        m.query("openai", "chat.completions", chat("before signal"))
        assert m.stop(sig) == 0
        assert not is_mounted(m.path)


def test_sigterm_with_a_file_held_open(make_mount):
    m = make_mount().start()
    held = open(m.p("README"), "rb")
    try:
        started = time.time()
        m.process.send_signal(signal.SIGTERM)
        m.process.wait(timeout=15)
        assert time.time() - started < 10
    finally:
        held.close()
    assert not is_mounted(m.path)


def test_cidcache_unmount_ends_the_daemon(make_mount):
    m = make_mount().start()
    result = subprocess.run([BINARY, "unmount", m.path], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    m.process.wait(timeout=15)
    assert not is_mounted(m.path)


def test_background_mount_and_unmount(make_mount):
    m = make_mount()
    with open(m.config_path, "w") as f:
        f.write("{}")
    result = subprocess.run([BINARY, "mount", m.path, "--data-dir", m.data, "--config", m.config_path],
                            env=m.env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert is_mounted(m.path) and os.path.exists(m.p("README"))
    # What it prints runs as printed, from anywhere, with nothing on PATH.
    printed = dict(line.strip().split(":  ", 1) for line in result.stdout.decode().splitlines()[1:])
    binary = os.path.normpath(os.path.abspath(BINARY))
    assert printed["unmount"].strip() == f"{binary} unmount {m.path}", result.stdout
    env = {**m.env, "PATH": "/usr/bin:/bin"}
    with open(os.path.join(m.root, "request.json"), "w") as f:
        json.dump(chat("as printed"), f)
    ask = subprocess.run(printed["ask"].strip(), shell=True, cwd=m.root, env=env, capture_output=True, timeout=30)
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["object"] == "chat.completion"
    assert [line["outcome"] for line in m.json_lines("log")] == ["miss"]  # through this mount
    result = subprocess.run(printed["unmount"].strip(), shell=True, cwd="/", env=env, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert not is_mounted(m.path)


def test_stale_mount_of_a_killed_daemon_is_cleared(make_mount):
    m = make_mount().start()
    # Kill the auto-unmount helper too, so the mount is left dead (ENOTCONN).
    helpers = subprocess.run(["pgrep", "-f", f"fusermount3 .*-- {m.path}$"], capture_output=True, text=True).stdout.split()
    assert helpers, "no auto-unmount helper found"
    for pid in helpers:
        os.kill(int(pid), signal.SIGKILL)
    m.process.kill()
    m.process.wait()
    time.sleep(0.2)
    assert is_mounted(m.path)
    try:
        os.statvfs(m.path)
        raise AssertionError("a dead mount answered")
    except OSError as error:
        assert error.errno == errno.ENOTCONN
    m.start()
    assert m.read("README")


def test_hits_are_served_after_remount(make_mount, fake):
    m = make_mount().start()
    request = chat("remember me")
    body = m.query("openai", "chat.completions", request)
    m.stop()
    m.start()
    assert m.query("openai", "chat.completions", request) == body
    assert m.read("api", "openai", "chat.completions", request_cid("openai", "chat.completions", request)) == body
    assert len(fake.calls_to("/chat/completions")) == 1


def test_another_upstream_sees_other_entries(make_mount, fake):
    m = make_mount().start()
    request = chat("per upstream")
    m.query("openai", "chat.completions", request)
    m.stop()
    m.env["CIDCACHE_OPENAI_URL"] = fake.url.replace("127.0.0.1", "localhost")
    m.start()
    assert os.listdir(m.p("api", "openai", "chat.completions")) == ["query"]


def test_the_key_is_nowhere_in_the_data_dir(make_mount):
    m = make_mount().start()
    m.query("openai", "chat.completions", chat("secret"))
    m.query_errno("openai", "chat.completions", chat("secret", model="fail-401"))
    m.query_errno("openai", "chat.completions", chat("secret", model="fail-500"))
    exposed = [m.read("errors"), m.read("log"), m.read("stats", "all.json"), m.read("stats", "metrics.prom")]
    m.stop()
    for folder, _, files in os.walk(m.root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                exposed.append(f.read())
    for blob in exposed:
        assert TEST_KEY.encode() not in blob
        assert b"0001" not in blob or b"real-key" not in blob


def test_data_dir_is_private(make_mount):
    m = make_mount().start()
    m.query("openai", "chat.completions", chat("private"))
    m.stop()
    assert os.stat(m.data).st_mode & 0o777 == 0o700
    for folder, dirs, files in os.walk(m.data):
        for name in dirs:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o700, name
        for name in files:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o600, name


def test_unmount_ends_the_foreground_daemon_with_status_0(make_mount):
    m = make_mount().start()
    m.query("openai", "embeddings", {"model": "text-embedding-3-small", "input": "bye"})
    result = subprocess.run([BINARY, "unmount", m.path], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert m.process.wait(timeout=10) == 0
    assert not is_mounted(m.path)
    # The mountpoint is an ordinary empty folder again, and mounts again.
    assert os.listdir(m.path) == []
    m.start()
    assert m.read("README")


def test_sigint_while_a_reader_waits(make_mount, fake):
    import threading
    m = make_mount().start()
    outcome = []

    def ask():
        try:
            outcome.append(m.query("openai", "chat.completions", chat("in flight", model="slow-1")))
        except OSError as error:
            outcome.append(error)

    reader = threading.Thread(target=ask)
    reader.start()
    time.sleep(0.3)
    m.process.send_signal(signal.SIGINT)
    assert m.process.wait(timeout=10) == 0
    reader.join(timeout=10)
    assert not reader.is_alive() and outcome  # answered or failed, never stuck
    assert not is_mounted(m.path)
