"""The front as a new user meets it (issue 18): the SDKs get in by every
loopback spelling of the front's address; a daemon whose upstream is its own
front (the README's `export OPENAI_BASE_URL=...` in the daemon's shell)
refuses to start; a loop a start cannot see is cut by the hop mark (508);
error answers say `x-cidcache: error`; `Cache-Control: max-age=0` and
`Pragma: no-cache` refresh. Every key here is a made-up test value.
"""
import json
import os
import socket
import subprocess
import tempfile
import time

import anthropic
import httpx
import ollama
import openai
import pytest
from huggingface_hub import HfApi

from conftest import BINARY, TEST_KEY, chat
from fake_llm import KEYS
from http_front import front, llm, serve  # noqa: F401  (fixtures)
from http_front import MESSAGE, free_port, openai_client, point_at_fakes, wait_for_port

STARTED_S = 20


def test_sdks_get_in_by_every_loopback_spelling_and_no_other_host(front, fake, llm):
    port = front.url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost"):
        client = openai.OpenAI(base_url=f"http://{host}:{port}/openai", api_key=TEST_KEY, max_retries=0)
        assert client.chat.completions.create(**chat("spelled")).choices
        assert [model.id for model in client.models.list()] == ["gpt-4o-mini", "text-embedding-3-small"]
        messages = anthropic.Anthropic(base_url=f"http://{host}:{port}/anthropic", api_key=KEYS["anthropic"], max_retries=0)
        assert messages.messages.create(**MESSAGE).content
        assert ollama.Client(host=f"http://{host}:{port}/ollama").chat(
            model="llama3.2", messages=[{"role": "user", "content": "spelled"}], stream=False).message
    # The Host an SDK sends for http://[::1]:PORT (this front listens on 127.0.0.1).
    v6 = openai.OpenAI(base_url=f"{front.url}/openai", api_key=TEST_KEY, max_retries=0,
                       default_headers={"Host": f"[::1]:{port}"})
    assert v6.chat.completions.with_raw_response.create(**chat("spelled")).headers["x-cidcache"] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 1
    rebound = openai.OpenAI(base_url=f"{front.url}/openai", api_key=TEST_KEY, max_retries=0,
                            default_headers={"Host": f"rebind.evil.example:{port}"})
    with pytest.raises(openai.PermissionDeniedError):
        rebound.chat.completions.create(**chat("spelled"))


def test_sdks_through_a_front_listening_on_ipv6_loopback(serve, fake, infra):
    server = serve("--http", "[::1]:{port}", wait=False, namespaces={"hf": {"family": "hf", "url": infra.url}})
    deadline = time.time() + STARTED_S
    while True:
        try:
            socket.create_connection(("::1", server.port), timeout=0.2).close()
            break
        except OSError:
            assert time.time() < deadline and server.process.poll() is None, server.output()
            time.sleep(0.05)
    client = openai.OpenAI(base_url=f"http://[::1]:{server.port}/openai", api_key=TEST_KEY, max_retries=0)
    assert client.chat.completions.create(**chat("over ipv6")).choices
    assert client.chat.completions.with_raw_response.create(**chat("over ipv6")).headers["x-cidcache"] == "hit"
    info = HfApi(endpoint=f"http://[::1]:{server.port}/hf", token=False).model_info("org/bert")
    assert info.id == "org/bert"
    refused = httpx.get(f"http://[::1]:{server.port}/openai/models", headers={"Host": "rebind.evil.example"})
    assert refused.status_code == 403


def start_serve(env, port, *config_args):
    """`cidcache serve` on 127.0.0.1:port with `env`, on a store of its own: (process, output path)."""
    root = tempfile.mkdtemp(prefix="cidcache-loop-")
    out = os.path.join(root, "serve.out")
    with open(out, "ab") as log:
        process = subprocess.Popen([BINARY, "serve", "--http", f"127.0.0.1:{port}", "--data-dir",
                                    os.path.join(root, "data"), *config_args],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, out, os.path.join(root, "data")


def stop(process):
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def client_env(llm):
    env = dict(os.environ)
    point_at_fakes(env, llm)
    for name in ("CIDCACHE_OPENAI_URL", "CIDCACHE_ANTHROPIC_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("variable, spelling", [
    ("OPENAI_BASE_URL", "http://127.0.0.1:{port}/openai"),
    ("OPENAI_BASE_URL", "http://localhost:{port}/openai"),
    ("ANTHROPIC_BASE_URL", "http://[::1]:{port}/anthropic"),
])
def test_a_daemon_whose_upstream_is_its_own_front_refuses_to_start(llm, variable, spelling):
    port = free_port()
    env = client_env(llm)
    env[variable] = spelling.format(port=port)
    process, out, _ = start_serve(env, port)
    try:
        assert process.wait(timeout=STARTED_S) == 1
    finally:
        stop(process)
    with open(out) as f:
        said = f.read()
    assert variable in said and f"env -u {variable}" in said and "own HTTP front" in said, said


def test_a_request_that_comes_back_to_its_daemon_gets_508(llm, fake):
    """Two daemons, each one's openai upstream the other's front: a pass-through comes back to the first."""
    first, second = free_port(), free_port()
    started = []
    try:
        for port, other in ((first, second), (second, first)):
            env = client_env(llm)
            env.update(CIDCACHE_OPENAI_URL=f"http://127.0.0.1:{other}/openai", CIDCACHE_OPENAI_KEY=TEST_KEY)
            started.append(start_serve(env, port))
        for port, (process, out, _) in zip((first, second), started):
            wait_for_port(port, lambda: open(out).read(), process)
        looped = httpx.get(f"http://127.0.0.1:{first}/openai/models", timeout=15)
        assert looped.status_code == 508
        assert "loop detected" in looped.json()["error"]["message"]
        # A cached operation too: the second daemon's upstream call carries the first one's mark on.
        asked = time.monotonic()
        looped = httpx.post(f"http://127.0.0.1:{first}/openai/chat/completions", json=chat("round and round"), timeout=15)
        assert looped.status_code == 508 and time.monotonic() - asked < 5
        with open(os.path.join(started[0][2], "errors.jsonl")) as f:
            assert any("loop detected" in json.loads(line)["message"] for line in f)
    finally:
        for process, _, _ in started:
            stop(process)


def test_error_answers_carry_x_cidcache(front, fake):
    answers = [
        httpx.get(f"{front.url}/no-such-namespace/models"),
        httpx.post(f"{front.url}/openai/chat/completions", content=b"not json"),
        httpx.post(f"{front.url}/openai/chat/completions", json=chat(model="fail-500")),
    ]
    assert [answer.status_code for answer in answers] == [404, 400, 500]
    assert [answer.headers.get("x-cidcache") for answer in answers] == ["error"] * 3
    assert answers[2].headers["x-cidcache-request-cid"]


@pytest.mark.parametrize("headers", [{"Cache-Control": "max-age=0"}, {"Pragma": "no-cache"}])
def test_max_age_0_and_pragma_no_cache_refresh(front, fake, headers):
    client = openai_client(front)
    request = chat(f"refresh by {headers}")
    client.chat.completions.create(**request)
    refreshed = client.chat.completions.with_raw_response.create(**request, extra_headers=headers)
    assert refreshed.headers["x-cidcache"] == "miss"
    assert len(fake.calls_to("/chat/completions")) == 2
    assert client.chat.completions.with_raw_response.create(**request).headers["x-cidcache"] == "hit"
