"""What the HTTP front's tests share (test_http_front.py, test_http_front_families.py,
test_http_serve.py): fixtures that start the front on a free loopback port against
the fakes (`front`: `mount --http`; `infra_front`: the same on FakeInfra;
`serve`: `cidcache serve`), each ended by its pid at teardown, and SDK clients.
Every key here is a made-up test value."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import anthropic
import openai
import pytest

from conftest import BINARY, TEST_KEY
from fake_llm import ECOSYSTEM, KEYS, FakeLLM

READY_S = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, output, process=None):
    """Waits until 127.0.0.1:port takes connections (failing when `process`, if given, exits first)."""
    deadline = time.time() + READY_S
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"cidcache exited with {process.returncode}: {output()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the HTTP front did not listen in {READY_S} s: {output()}")


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.stop()


def alive(pid):
    """Whether a process runs (a zombie no one reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def point_at_fakes(env, llm):
    """openai at FakeOpenAI (make_mount's env already), the other LLM and inference families at FakeLLM, each with its key."""
    for name in ECOSYSTEM:
        env.pop(name, None)
    for namespace in ("anthropic", "ollama", "gemini", "tgi", "tei", "ovms", "opea"):
        env[f"CIDCACHE_{namespace.upper()}_URL"] = llm.base(namespace)
        env[f"CIDCACHE_{namespace.upper()}_KEY"] = KEYS[namespace]


def start_front(m):
    """Starts a mount with the HTTP front on a free loopback port (`mount --http`), its address in `.url`."""
    port = free_port()
    m.start("--http", f"127.0.0.1:{port}")
    wait_for_port(port, m.daemon_output, m.process)
    m.url = f"http://127.0.0.1:{port}"
    return m


@pytest.fixture
def front(make_mount, llm):
    """A mount with the HTTP front on a free loopback port (`mount --http`): .url, .mount."""
    m = make_mount()
    point_at_fakes(m.env, llm)
    return start_front(m)


class Server:
    """`cidcache serve` in the foreground, ended by its pid at teardown. `{port}`
    in its arguments and config is a free loopback port, its `.port`."""

    def __init__(self, env, config, *arguments):
        self.root = tempfile.mkdtemp(prefix="cidcache-serve-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        arguments = [argument.format(port=self.port) for argument in arguments]
        config_path = os.path.join(self.root, "config.json")
        with open(config_path, "w") as f:
            f.write(json.dumps(config).replace("{port}", str(self.port)))
        self.out = os.path.join(self.root, "serve.out")
        with open(self.out, "ab") as log:
            self.process = subprocess.Popen(
                [BINARY, "serve", "--data-dir", self.data, "--config", config_path, *arguments],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self):
        with open(self.out, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def serve(fake, llm):
    """make(*arguments, wait=True, **config) -> a Server (listening, unless wait=False); all stopped at teardown."""
    made = []

    def make(*arguments, wait=True, **config):
        env = dict(os.environ, CIDCACHE_OPENAI_URL=fake.url, CIDCACHE_OPENAI_KEY=TEST_KEY)
        point_at_fakes(env, llm)
        server = Server(env, {"upstream_timeout_s": 5, "upstream_retries": 0, **config}, *arguments)
        made.append(server)
        if wait:
            wait_for_port(server.port, server.output, server.process)
        return server

    yield make
    for server in made:
        server.stop(signal.SIGKILL)


def openai_client(front, key=TEST_KEY):
    return openai.OpenAI(base_url=f"{front.url}/openai", api_key=key, max_retries=0)


def headers_of(call):
    """A fake's recorded call's headers by lower-cased name."""
    return {name.lower(): value for name, value in call["headers"].items()}


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


def anthropic_client(front, key=KEYS["anthropic"]):
    return anthropic.Anthropic(base_url=f"{front.url}/anthropic", api_key=key, max_retries=0)


MESSAGE = {"model": "claude-3-5-haiku-latest", "max_tokens": 64,
           "messages": [{"role": "user", "content": "hello through http"}]}


# FakeInfra: the Hugging Face Hub and GitHub


@pytest.fixture
def infra_front(make_mount, infra):
    """A mount with the HTTP front whose hf and github namespaces point at FakeInfra, without tokens."""
    m = make_mount()
    for name in ("HF_TOKEN", "HF_ENDPOINT", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
        m.env.pop(name, None)
    m.env.update({"CIDCACHE_HF_URL": infra.url, "CIDCACHE_GITHUB_URL": infra.github_url})
    return start_front(m)
