"""One loopback fake that speaks the wire format of every LLM and inference
family cidcache serves: OpenAI (and the compatible groq/vllm), Anthropic
Messages, Gemini (v1beta generateContent / embedContent), Ollama's native API,
Hugging Face TGI (/generate and its OpenAI-style /v1/chat/completions), TEI
(/embed), OpenVINO Model Server (KServe v2 REST infer) and OPEA megaservices.

Each family lives under its own path prefix of the one server, so a namespace
is pointed at `fake.base(ns)`: `/anthropic/v1/messages`,
`/gemini/v1beta/models/{model}:generateContent`, `/ollama/api/chat`,
`/tgi/generate`, `/tei/embed`, `/ovms/v2/models/{m}/infer`, `/opea/v1/{route}`,
`/openai/v1/chat/completions` (each family's handler in fake_llm_families.py). Every call is recorded: its route (the path after
the prefix), headers (lower-cased names), raw body, the bytes the fake sent back
as the body (`sent`, without chunk framing) and when each streamed event left
(`events`: (time, bytes) pairs), and when the answer ended (`finished`).

Authentication is checked like the real services do it:
- anthropic: `x-api-key` (missing or wrong: 401 authentication_error) and
  `anthropic-version` (missing: 400 invalid_request_error);
- gemini: `x-goog-api-key` (missing: 403 PERMISSION_DENIED; wrong: 400
  INVALID_ARGUMENT with reason API_KEY_INVALID, which is what Google answers);
- openai: `Authorization: Bearer` (401 invalid_api_key);
- ollama, tgi, tei, ovms, opea: no key is needed; when `fake.tokens[family]` is
  set (as a proxy or an HF endpoint in front would), `Authorization: Bearer
  TOKEN` is required and anything else gets 401 in the family's error format.

Behaviour switches, read from the request's model (the path's model for gemini
and ovms), else TGI/TEI `inputs`, else OPEA `messages`:
- `fail-<status>`: that status with the family's own error body (`fail-529` is
  Anthropic's overloaded_error; 429 carries `retry-after: 1`);
- `slow-<seconds>`: waits before answering;
- `stream-slow`: a streamed answer whose events leave ~`gap` (0.3 s) apart;
- `stream-cut`: a streamed answer that stops before its terminal event and drops
  the connection mid-body (the chunked body is never terminated);
- `stream-noterm`: a streamed answer that ends cleanly (last chunk sent) but
  without the terminal event;
- `stream-error` (anthropic): an `error` event (overloaded_error) mid-stream;
- `stream-stall`: three events, then nothing (the connection stays open) until
  `fake.release` is set or 60 s pass; then the connection is dropped.
"""
import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

from fake_llm_families import FamilyHandlers
from loopback import LoopbackHTTPServer, send_answer

FAMILIES = ("openai", "anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea")

KEYS = {
    "openai": "sk-test-llm-not-a-real-key-0005",
    "anthropic": "sk-ant-test-not-a-real-key-0002",
    "gemini": "AIza-test-not-a-real-key-0003",
    "ollama": "ollama-proxy-test-token-0006",
    "tgi": "hf_test_not_a_real_token_0004",
    "tei": "hf_test_not_a_real_token_0007",
    "ovms": "ovms-proxy-test-token-0008",
    "opea": "opea-proxy-test-token-0009",
}

SWITCH = re.compile(r"(fail-\d{3}|slow-[0-9.]+|stream-slow|stream-cut|stream-noterm|stream-error|stream-stall)")


class Abort(Exception):
    """Raised by a handler to drop the connection without ending the body."""


class FakeLLM(FamilyHandlers):
    def __init__(self, gap=0.3):
        self.gap = gap
        self.release = threading.Event()
        self.calls = []
        self.lock = threading.Lock()
        self.count = 0
        self.keys = dict(KEYS)
        # Bearer tokens the keyless families demand (None: no check, like a bare server).
        self.tokens = {family: KEYS[family] for family in ("ollama", "tgi", "tei", "ovms", "opea")}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def handle_call(self, method):
                body = self.read_body() if method == "POST" else b""
                parts = self.path.split("?")[0].split("/", 2)
                family = parts[1] if len(parts) > 1 else ""
                route = "/" + (parts[2] if len(parts) > 2 else "")
                with fake.lock:
                    fake.count += 1
                    record = {"n": fake.count, "method": method, "family": family, "route": route, "path": self.path,
                              "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                              "sent": b"", "events": [], "started": time.time(), "finished": None}
                    fake.calls.append(record)
                out = Out(self, record)
                try:
                    fake.dispatch(out, method, family, route, body)
                except Abort:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                finally:
                    record["finished"] = time.time()

            def do_POST(self):
                self.handle_call("POST")

            def do_GET(self):
                self.handle_call("GET")

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def base(self, namespace):
        """The base URL a namespace is pointed at (OpenAI-compatible ones include /v1)."""
        family = {"groq": "openai", "vllm": "openai"}.get(namespace, namespace)
        return f"{self.url}/{family}/v1" if family == "openai" else f"{self.url}/{family}"

    def calls_of(self, family, route=None):
        with self.lock:
            return [c for c in self.calls if c["family"] == family and (route is None or c["route"] == route)]

    # Dispatch

    def dispatch(self, out, method, family, route, body):
        handler = getattr(self, "family_" + family, None)
        if handler is None or method != "POST":
            return out.json(404, {"error": f"no route {method} {family}{route}"})
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = None
        handler(out, route, body, request)

    @staticmethod
    def switch(*candidates):
        for value in candidates:
            if isinstance(value, list) and value:
                value = value[0]
            if isinstance(value, str):
                found = SWITCH.search(value)
                if found:
                    return found.group(1)
        return ""

    def pace(self, behaviour):
        if behaviour.startswith("slow-"):
            time.sleep(float(behaviour[5:]))

    def bearer_ok(self, out, family):
        token = self.tokens.get(family)
        return token is None or out.header("authorization") == f"Bearer {token}"

    def digest(self, body):
        return hashlib.sha256(body).hexdigest()[:12]

    def stream(self, out, events, terminal, behaviour, content_type):
        """Sends events (bytes) as a chunked body, then the terminal events,
        shaped by the behaviour switch."""
        out.start_chunked(200, content_type)
        gap = self.gap if behaviour in ("stream-slow", "stream-cut") else 0
        if behaviour in ("stream-cut", "stream-noterm", "stream-stall"):
            events = events[:3]
            terminal = []
        for i, event in enumerate(events + terminal):
            if i and gap:
                time.sleep(gap)
            out.chunk(event)
        if behaviour == "stream-cut":
            time.sleep(gap)
            raise Abort()
        if behaviour == "stream-stall":
            self.release.wait(60)
            raise Abort()
        out.end_chunked()


class Out:
    """Writes one answer and records what was sent."""

    def __init__(self, handler, record):
        self.handler = handler
        self.record = record

    def header(self, name):
        return self.record["headers"].get(name.lower())

    def send(self, status, data, content_type, headers=()):
        # Recorded first: a test may read the record as soon as the answer is out.
        self.record["status"] = status
        self.record["sent"] = data
        send_answer(self.handler, status, data, content_type, headers)

    def json(self, status, payload, headers=(), content_type="application/json"):
        self.send(status, json.dumps(payload).encode(), content_type, headers)

    def text(self, status, text):
        self.send(status, text.encode(), "text/plain; charset=utf-8")

    def start_chunked(self, status, content_type):
        self.record["status"] = status
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()

    def chunk(self, data):
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()
        self.record["sent"] += data
        self.record["events"].append((time.time(), data))

    def end_chunked(self):
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()


# Fixtures and helpers shared by test_families.py and test_streaming.py

import os  # noqa: E402

import pytest  # noqa: E402

# Ecosystem variables that would otherwise leak in from the environment running the tests.
ECOSYSTEM = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY",
             "GOOGLE_API_KEY", "OLLAMA_HOST", "HF_TOKEN", "GROQ_API_KEY", "VLLM_API_KEY")


def variable(namespace, suffix):
    return "CIDCACHE_" + namespace.upper().replace(".", "_").replace("-", "_") + "_" + suffix


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.stop()


@pytest.fixture
def llm_mount(make_mount, llm):
    """Mounts whose LLM and inference namespaces all point at the one fake,
    each with its own credential (keys=False: none at all)."""

    def make(keys=True, start=True, **config):
        m = make_mount(**config)
        for name in ECOSYSTEM:
            m.env.pop(name, None)
        for namespace in FAMILIES:
            m.env[variable(namespace, "URL")] = llm.base(namespace)
            if keys:
                m.env[variable(namespace, "KEY")] = llm.keys[namespace]
            else:
                m.env.pop(variable(namespace, "KEY"), None)
        return m.start() if start else m

    return make


def files_holding(root, secrets):
    """(path, secret) for every file under root whose bytes contain a secret."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            found += [(path, s) for s in secrets if s.encode() in data]
    return found


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def deadline():
    """(Autouse in every module that imports it.) Fails the test if it runs past its time (a read the daemon never answers
    is interrupted: the daemon must answer EINTR, then this raises)."""
    import signal

    def expire(signum, frame):
        raise DeadlineExceeded("the test ran past its deadline: something hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(90)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def bounded(fn, timeout=30):
    """Runs fn in a thread and fails if it has not returned within timeout seconds."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still waiting after {timeout} s: the daemon hung a reader"
    if "error" in result:
        raise result["error"]
    return result["value"]
