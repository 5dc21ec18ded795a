"""`cidcache serve --http`, the config's `http.listen`, `mount --http` in the
background, and the refusal of addresses that are not loopback."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

from conftest import BINARY, MOUNTS, chat, force_unmount, is_mounted
from http_front import llm, serve  # noqa: F401  (fixtures)
from http_front import alive, free_port, openai_client, point_at_fakes, wait_for_port


# serve


def test_serve_without_a_mount_and_its_graceful_shutdown(serve, fake):
    server = serve("--http", "127.0.0.1:{port}")
    client = openai_client(server)
    request = chat("served")
    assert client.chat.completions.with_raw_response.create(**request).headers["x-cidcache"] == "miss"
    assert client.chat.completions.with_raw_response.create(**request).headers["x-cidcache"] == "hit"
    # One daemon per store: a second one on the same data dir is refused.
    second = subprocess.run([BINARY, "serve", "--http", "127.0.0.1:%d" % free_port(), "--data-dir", server.data],
                            capture_output=True, timeout=30)
    assert second.returncode != 0 and b"EBUSY" in second.stderr
    started = time.time()
    assert server.stop(signal.SIGTERM) == 0
    assert time.time() - started < 8
    with open(os.path.join(server.data, "log.jsonl")) as log:
        assert [json.loads(line)["outcome"] for line in log] == ["miss", "hit"]


def test_the_config_key_http_listen(serve):
    server = serve(http={"listen": "127.0.0.1:{port}"})
    assert httpx.get(f"{server.url}/openai/models").json()["object"] == "list"


def daemon_log(m):
    with open(os.path.join(m.data, "daemon.log")) as f:
        return f.read()


def test_a_background_mount_brings_its_http_front(make_mount, fake, llm):
    m = make_mount()
    point_at_fakes(m.env, llm)
    with open(m.config_path, "w") as f:
        json.dump(m.config, f)
    port = free_port()
    MOUNTS.add(m.path)
    started = subprocess.run([BINARY, "mount", m.path, "--data-dir", m.data, "--config", m.config_path,
                              "--http", f"127.0.0.1:{port}"], env=m.env, capture_output=True, timeout=60)
    assert started.returncode == 0, started.stderr.decode()
    with open(os.path.join(m.data, "mount.json")) as f:
        pid = json.load(f)["pid"]
    try:
        wait_for_port(port, lambda: daemon_log(m))
        assert httpx.get(f"http://127.0.0.1:{port}/openai/models").headers["x-cidcache"] == "bypass"
        subprocess.run([BINARY, "unmount", m.path], check=True, timeout=30)
        deadline = time.time() + 10
        while time.time() < deadline and alive(pid):
            time.sleep(0.05)
        assert not alive(pid), "the daemon outlived its mount"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/openai/models")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        if is_mounted(m.path):
            force_unmount(m.path)


@pytest.mark.parametrize("address", ["0.0.0.0:8421", "192.0.2.1:8421", "[::]:8421"])
def test_a_non_loopback_address_is_refused(serve, make_mount, address):
    server = serve("--http", address, wait=False)
    assert server.process.wait(timeout=30) != 0
    assert "loopback addresses only" in server.output()
    m = make_mount(http={"listen": address})
    with open(m.config_path, "w") as f:
        json.dump(m.config, f)
    refused = subprocess.run([BINARY, "mount", m.path, "--data-dir", m.data, "--config", m.config_path],
                             capture_output=True, env=m.env, timeout=30)
    assert refused.returncode != 0 and b"loopback addresses only" in refused.stderr


def test_shutdown_is_bounded_while_a_stream_stalls(serve, llm):
    """SIGTERM with a stream still open (the fake stalls mid-stream): the daemon ends within its bounds."""
    server = serve("--http", "127.0.0.1:{port}")
    body = {"model": "stream-stall", "messages": [{"role": "user", "content": "wait"}]}
    with httpx.stream("POST", f"{server.url}/ollama/api/chat", json=body, timeout=30) as response:
        assert response.headers["x-cidcache"] == "miss"
        lines = response.iter_lines()
        next(lines)
        started = time.time()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0
        assert time.time() - started < 10, "graceful shutdown (4 s) and cancellation (3 s) bound the exit"
        with pytest.raises(httpx.HTTPError):
            list(lines)


def test_shutdown_is_bounded_while_an_upstream_has_not_answered(serve, llm):
    """SIGTERM while a miss waits for a slow upstream's head (and another request joined it)."""
    server = serve("--http", "127.0.0.1:{port}", upstream_timeout_s=60)
    body = {"model": "slow-30", "messages": [{"role": "user", "content": "wait"}], "stream": False}
    outcomes = []

    def ask():
        try:
            outcomes.append(httpx.post(f"{server.url}/ollama/api/chat", json=body, timeout=30).status_code)
        except httpx.HTTPError as error:
            outcomes.append(type(error).__name__)

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for asker in askers:
        asker.start()
    time.sleep(1)
    started = time.time()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    assert time.time() - started < 10
    for asker in askers:
        asker.join(10)
    assert len(outcomes) == 2 and 200 not in outcomes


def test_an_address_in_use_is_refused(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = serve("--http", "127.0.0.1:%d" % taken.getsockname()[1], wait=False)
        assert server.process.wait(timeout=30) == 1
    assert "EBUSY: cannot listen on 127.0.0.1:" in server.output()
