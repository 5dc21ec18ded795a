"""The HTTP front (`cidcache serve --http`, `cidcache mount --http`) driven by
the official SDKs from PyPI (openai, anthropic, ollama, huggingface_hub; GitHub
through plain HTTP) against the loopback fakes: each first call reaches the fake once, the second is a hit (the fake's
count unchanged, `x-cidcache: hit`), the parsed objects are equal, streams
replay the same events; the mount and the front share entries; unmapped
routes pass through; upstream errors reach the SDK as the exceptions it
raises for them. Every key here is a made-up test value.
"""
import json
import os
import signal
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

from cidlib import cid, request_cid
from conftest import BINARY, TEST_KEY, chat
from fake_infra_http import HF_TOKEN_A, TOKEN_A, FakeInfra
from fake_llm import ECOSYSTEM, KEYS, FakeLLM, files_holding

READY_S = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, output):
    deadline = time.time() + READY_S
    while time.time() < deadline:
        if process.poll() is not None:
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


def point_at_fakes(env, llm):
    """openai at FakeOpenAI (make_mount's env already), the other LLM and inference families at FakeLLM, each with its key."""
    for name in ECOSYSTEM:
        env.pop(name, None)
    for namespace in ("anthropic", "ollama", "gemini", "tgi", "tei", "ovms"):
        env[f"CIDCACHE_{namespace.upper()}_URL"] = llm.base(namespace)
        env[f"CIDCACHE_{namespace.upper()}_KEY"] = KEYS[namespace]


@pytest.fixture
def front(make_mount, llm):
    """A mount with the HTTP front on a free loopback port (`mount --http`): .url, .mount."""
    m = make_mount()
    point_at_fakes(m.env, llm)
    port = free_port()
    m.start("--http", f"127.0.0.1:{port}")
    wait_for_port(port, m.process, m.daemon_output)
    m.url = f"http://127.0.0.1:{port}"
    return m


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
            wait_for_port(server.port, server.process, server.output)
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


# openai


def test_openai_chat_miss_then_hit(front, fake):
    client = openai_client(front)
    request = chat("hello through http")
    first = client.chat.completions.with_raw_response.create(**request)
    assert first.headers["x-cidcache"] == "miss"
    assert len(fake.calls_to("/chat/completions")) == 1
    second = client.chat.completions.with_raw_response.create(**request)
    assert second.headers["x-cidcache"] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 1
    assert second.parse().model_dump() == first.parse().model_dump()
    assert second.headers["x-cidcache-request-cid"] == request_cid("openai", "chat.completions", request)
    assert first.headers["x-cidcache-request-cid"] == second.headers["x-cidcache-request-cid"]
    assert second.headers["x-cidcache-cid"] == cid(second.content) == first.headers["x-cidcache-cid"]
    assert second.headers["content-type"] == "application/json"


def test_openai_streamed_chat_replays_the_same_events(front, fake):
    client = openai_client(front)
    request = chat("stream me", stream=True)
    first = client.chat.completions.with_raw_response.create(**request)
    assert first.headers["x-cidcache"] == "miss"
    assert first.headers["content-type"].startswith("text/event-stream")
    events = [event.model_dump() for event in first.parse()]
    assert "".join(e["choices"][0]["delta"]["content"] or "" for e in events if e["choices"]).startswith("answer ")
    second = client.chat.completions.with_raw_response.create(**request)
    assert second.headers["x-cidcache"] == "hit"
    assert [event.model_dump() for event in second.parse()] == events
    assert len(fake.calls_to("/chat/completions")) == 1


def test_openai_embeddings(front, fake):
    client = openai_client(front)
    first = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    second = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(second.parse().data[0].embedding) == 8
    assert len(fake.calls_to("/embeddings")) == 1


# anthropic


def anthropic_client(front, key=KEYS["anthropic"]):
    return anthropic.Anthropic(base_url=f"{front.url}/anthropic", api_key=key, max_retries=0)


MESSAGE = {"model": "claude-3-5-haiku-latest", "max_tokens": 64,
           "messages": [{"role": "user", "content": "hello through http"}]}


def test_anthropic_messages_miss_then_hit(front, llm):
    client = anthropic_client(front)
    first = client.messages.with_raw_response.create(**MESSAGE)
    second = client.messages.with_raw_response.create(**MESSAGE)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.parse().model_dump() == first.parse().model_dump()
    assert len(llm.calls_of("anthropic")) == 1


def test_anthropic_streamed_messages_replay_the_same_events(front, llm):
    client = anthropic_client(front)
    first = client.messages.with_raw_response.create(**MESSAGE, stream=True)
    events = [event.model_dump() for event in first.parse()]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    second = client.messages.with_raw_response.create(**MESSAGE, stream=True)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert [event.model_dump() for event in second.parse()] == events
    assert len(llm.calls_of("anthropic")) == 1


# ollama (its client has no raw response: the outcomes are the log's)


def test_ollama_chat_plain_and_streamed(front, llm):
    client = ollama.Client(host=f"{front.url}/ollama")
    messages = [{"role": "user", "content": "hello through http"}]
    first = client.chat(model="llama3.2", messages=messages, stream=False, options={"temperature": 0})
    second = client.chat(model="llama3.2", messages=messages, stream=False, options={"temperature": 0})
    assert second.model_dump() == first.model_dump()
    streamed = [chunk.model_dump() for chunk in client.chat(model="llama3.2", messages=messages, stream=True)]
    assert streamed[-1]["done"] is True
    again = [chunk.model_dump() for chunk in client.chat(model="llama3.2", messages=messages, stream=True)]
    assert again == streamed
    assert len(llm.calls_of("ollama", "/api/chat")) == 2
    assert outcomes(front) == ["miss", "hit", "miss", "hit"]


# gemini (the model moves from the path into the request), tgi and tei, through plain HTTP

GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hello through http"}]}], "generationConfig": {"temperature": 0}}


def test_gemini_takes_the_model_from_the_path(front, llm):
    url = f"{front.url}/gemini/v1beta/models/gemini-2.0-flash:generateContent"
    first, second = httpx.post(url, json=GEMINI), httpx.post(url, json=GEMINI)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.json() == first.json()
    calls = llm.calls_of("gemini")
    assert len(calls) == 1 and calls[0]["route"] == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert json.loads(calls[0]["body"]) == GEMINI, "the upstream gets the caller's body, the model in its path"
    assert first.headers["x-cidcache-request-cid"] == request_cid("gemini", "generateContent",
                                                                  {"model": "gemini-2.0-flash", **GEMINI})
    assert front.query("gemini", "generateContent", {"model": "gemini-2.0-flash", **GEMINI}) == first.content
    failed = httpx.post(f"{front.url}/gemini/v1beta/models/fail-404:generateContent", json=GEMINI)
    assert failed.status_code == 404 and failed.json()["error"]["status"] == "NOT_FOUND"
    twice = httpx.post(url, json={"model": "gemini-2.0-flash", **GEMINI})
    assert twice.status_code == 400 and twice.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(llm.calls_of("gemini")) == 2


def test_tgi_and_tei(front, llm):
    generate = {"inputs": "hello through http", "parameters": {"max_new_tokens": 4}}
    answers = [httpx.post(f"{front.url}/tgi/generate", json=generate) for _ in range(2)]
    assert [a.headers["x-cidcache"] for a in answers] == ["miss", "hit"] and answers[0].json() == answers[1].json()
    chat_request = {"model": "tgi", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    streams = [httpx.post(f"{front.url}/tgi/v1/chat/completions", json=chat_request) for _ in range(2)]
    assert streams[0].headers["content-type"].startswith("text/event-stream")
    assert streams[1].headers["x-cidcache"] == "hit" and streams[1].content == streams[0].content
    assert streams[0].content.endswith(b"data:[DONE]\n\n")
    embeddings = [httpx.post(f"{front.url}/tei/embed", json={"inputs": "hello"}) for _ in range(2)]
    assert [e.headers["x-cidcache"] for e in embeddings] == ["miss", "hit"] and len(embeddings[1].json()[0]) == 8
    assert len(llm.calls_of("tgi")) == 2 and len(llm.calls_of("tei")) == 1


def test_ovms_takes_the_model_and_version_from_the_path(front, llm):
    infer = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    url = f"{front.url}/ovms/v2/models/resnet/versions/2/infer"
    first, second = httpx.post(url, json=infer), httpx.post(url, json=infer)
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert first.json()["outputs"][0]["data"] == [2.0, 4.0, 6.0] and first.json()["model_version"] == "2"
    assert [call["route"] for call in llm.calls_of("ovms")] == ["/v2/models/resnet/versions/2/infer"]
    assert json.loads(llm.calls_of("ovms")[0]["body"]) == infer


def test_a_streamed_miss_is_passed_on_as_it_arrives(front, llm):
    """The first line reaches the client while the fake is still sending (events ~0.3 s apart)."""
    body = {"model": "stream-slow", "messages": [{"role": "user", "content": "slowly"}]}
    with httpx.stream("POST", f"{front.url}/ollama/api/chat", json=body, timeout=10) as response:
        assert response.headers["x-cidcache"] == "miss"
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.iter_lines()
        assert json.loads(next(lines))["done"] is False
        assert llm.calls_of("ollama")[0]["finished"] is None, "the whole stream was awaited before the first line"
        rest = list(lines)
    assert json.loads(rest[-1])["done"] is True


def test_a_stream_cut_short_never_ends_as_a_whole_answer(front, fake):
    body = chat("cut", model="stream-cut", stream=True)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("POST", f"{front.url}/openai/chat/completions", json=body, headers=headers) as response:
                assert response.headers["x-cidcache"] == "miss"
                for _ in response.iter_bytes():
                    pass
    assert len(fake.calls_to("/chat/completions")) == 2, "the cut answer was not stored"


# the Hugging Face Hub and GitHub (GET routes: the path's parameters and the query string are the request)


@pytest.fixture
def infra():
    server = FakeInfra()
    yield server
    server.stop()


@pytest.fixture
def infra_front(make_mount, infra):
    """A mount with the HTTP front whose hf and github namespaces point at FakeInfra, without tokens."""
    m = make_mount()
    for name in ("HF_TOKEN", "HF_ENDPOINT", "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
        m.env.pop(name, None)
    m.env.update({"CIDCACHE_HF_URL": infra.url, "CIDCACHE_GITHUB_URL": infra.github_url})
    port = free_port()
    m.start("--http", f"127.0.0.1:{port}")
    wait_for_port(port, m.process, m.daemon_output)
    m.url = f"http://127.0.0.1:{port}"
    return m


def test_huggingface_hub_model_info_and_list_repo_files(infra_front, infra):
    api = HfApi(endpoint=f"{infra_front.url}/hf", token=False)
    first = api.model_info("org/bert")
    calls = len(infra.calls_to("/api/models/org/bert"))
    assert api.model_info("org/bert") == first
    assert first.id == "org/bert"
    files = api.list_repo_files("org/bert")
    assert files == [".gitattributes", "config.json", "onnx/model.onnx", "model.safetensors"]
    assert api.list_repo_files("org/bert") == files
    # Two tree pages were fetched and joined once; nothing reached the Hub the second time.
    assert len(infra.calls_to("/api/models/org/bert")) == calls + 3
    assert outcomes(infra_front) == ["miss", "hit", "miss", "hit"]
    # The mount's query for the same model is the same request: one entry.
    assert infra_front.query("hf", "model_info", {"repo_id": "org/bert"})
    assert outcomes(infra_front)[-1] == "hit"


def test_huggingface_hub_errors_and_the_callers_token(infra_front, infra):
    api = HfApi(endpoint=f"{infra_front.url}/hf", token=False)
    from huggingface_hub.errors import RepositoryNotFoundError
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("err/404")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/private")
    assert HfApi(endpoint=f"{infra_front.url}/hf", token=HF_TOKEN_A).model_info("org/private").private is True
    assert headers_of(infra.calls_to("/api/models/org/private")[-1])["authorization"] == f"Bearer {HF_TOKEN_A}"


def test_github_through_plain_http(infra_front, infra):
    url = f"{infra_front.url}/github/orgs/acme/repos"
    first = httpx.get(url, params={"per_page": "2"})
    second = httpx.get(url, params={"per_page": "2"})
    assert (first.headers["x-cidcache"], second.headers["x-cidcache"]) == ("miss", "hit")
    assert second.json() == first.json() and first.json()[0]["full_name"] == "acme/tools"
    assert len(infra.calls_to("/gh/orgs/acme/repos")) == 1
    runs = httpx.get(f"{infra_front.url}/github/repos/o/r/actions/runs", params={"branch": "main"})
    assert runs.json()["total_count"] == 2
    missing = httpx.get(f"{infra_front.url}/github/repos/err/404/actions/runs")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    mine = httpx.get(f"{infra_front.url}/github/user/repos", headers={"Authorization": f"Bearer {TOKEN_A}"})
    assert mine.headers["x-cidcache"] == "miss" and mine.json()[0]["full_name"] == "alice/secret-alice"
    # Not an operation: passed through.
    assert httpx.get(f"{infra_front.url}/github/repos/o/r/code-scanning/analyses").headers["x-cidcache"] == "bypass"


# one cache, two fronts


def test_the_mount_and_the_front_share_entries(front, fake):
    asked = chat("asked through the mount")
    through_mount = front.query("openai", "chat.completions", asked)
    raw = openai_client(front).chat.completions.with_raw_response.create(**asked)
    assert raw.headers["x-cidcache"] == "hit"
    assert raw.content == through_mount

    http_first = chat("asked over http first")
    answer = openai_client(front).chat.completions.with_raw_response.create(**http_first)
    assert answer.headers["x-cidcache"] == "miss"
    assert front.query("openai", "chat.completions", http_first) == answer.content
    assert outcomes(front)[-1] == "hit"
    assert len(fake.calls_to("/chat/completions")) == 2
    assert os.path.exists(front.entry("openai", "chat.completions", http_first))


def test_cache_control_no_cache_refreshes_and_no_store_bypasses(front, fake):
    client = openai_client(front)
    request = chat("control me")
    client.chat.completions.create(**request)
    refreshed = client.chat.completions.with_raw_response.create(**request, extra_headers={"Cache-Control": "no-cache"})
    assert refreshed.headers["x-cidcache"] == "miss"
    bypassed = client.chat.completions.with_raw_response.create(**request, extra_headers={"Cache-Control": "no-store"})
    assert bypassed.headers["x-cidcache"] == "bypass"
    assert len(fake.calls_to("/chat/completions")) == 3
    assert client.chat.completions.with_raw_response.create(**request).headers["x-cidcache"] == "hit"


# pass-through


def test_an_unmapped_route_passes_through(front, fake):
    client = openai_client(front)
    for _ in range(2):
        raw = client.models.with_raw_response.list()
        assert raw.headers["x-cidcache"] == "bypass"
        assert [model.id for model in raw.parse()] == ["gpt-4o-mini", "text-embedding-3-small"]
    calls = fake.calls_to("/models")
    assert len(calls) == 2
    assert headers_of(calls[0])["authorization"] == f"Bearer {TEST_KEY}"
    time.sleep(1.2)  # figures are flushed every second
    assert front.stats("openai.json")["bypassed"] == 2
    # A route of a namespace whose upstream answers 404 keeps its status and body.
    response = httpx.get(f"{front.url}/openai/nothing-here", headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert response.status_code == 404
    assert "Invalid URL (GET /v1/nothing-here)" in response.json()["error"]["message"]


def test_the_configured_key_is_added_only_when_the_caller_sends_none(front, fake):
    httpx.get(f"{front.url}/openai/models").raise_for_status()
    assert headers_of(fake.calls_to("/models")[-1])["authorization"] == f"Bearer {TEST_KEY}"
    refused = httpx.get(f"{front.url}/openai/models", headers={"Authorization": "Bearer sk-test-callers-wrong-0009"})
    assert refused.status_code == 401


# errors


@pytest.mark.parametrize("model, status, exception", [
    ("fail-404", 404, openai.NotFoundError),
    ("fail-429", 429, openai.RateLimitError),
    ("fail-500", 500, openai.InternalServerError),
])
def test_upstream_errors_reach_the_sdk_as_its_own(front, model, status, exception):
    with pytest.raises(exception) as raised:
        openai_client(front).chat.completions.create(**chat(model=model))
    assert raised.value.status_code == status
    assert raised.value.body["type"] == {404: "invalid_request_error", 429: "requests", 500: "server_error"}[status]
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def test_the_callers_own_key_is_used_and_never_kept(front, fake, llm):
    wrong = "sk-test-callers-own-wrong-key-0042"
    with pytest.raises(openai.AuthenticationError) as raised:
        openai_client(front, key=wrong).chat.completions.create(**chat("whose key"))
    assert "sk-test-" in raised.value.body["message"]
    assert headers_of(fake.calls_to("/chat/completions")[-1])["authorization"] == f"Bearer {wrong}"
    # This SDK sends its key as a bearer token; older ones as x-api-key: either is the caller's.
    with pytest.raises(anthropic.AuthenticationError):
        anthropic_client(front, key="sk-ant-test-wrong-0043").messages.create(**MESSAGE)
    refused = httpx.post(f"{front.url}/anthropic/v1/messages", json=MESSAGE,
                         headers={"x-api-key": "sk-ant-test-wrong-0044", "anthropic-version": "2023-06-01"})
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert [call["headers"]["x-api-key"] for call in llm.calls_of("anthropic")] == ["sk-ant-test-wrong-0043",
                                                                                 "sk-ant-test-wrong-0044"]
    assert not files_holding(front.root, [wrong, "sk-ant-test-wrong-0043", "sk-ant-test-wrong-0044"])


def test_failures_without_an_upstream_answer_are_in_the_familys_format(front, fake):
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(front).chat.completions.create(**chat("bad control"), extra_body={"cidcache": {"ttl": "long"}})
    assert raised.value.body["code"] == "EINVAL"
    assert raised.value.body["message"].startswith("cidcache: EINVAL")
    not_json = httpx.post(f"{front.url}/openai/chat/completions", content=b"not json")
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client(front).messages.create(model="claude-3-5-haiku-latest", max_tokens=1, messages=[],
                                                extra_body={"max_tokens": "many"})
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    unknown = httpx.get(f"{front.url}/no-such-namespace/models")
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("cidcache: ENOENT")
    assert not fake.calls_to("/chat/completions")


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
