"""The LLM and inference families (anthropic, gemini, ollama, tgi, tei, ovms,
opea) through a real mount against fake_llm.py, which speaks each API's wire
format: miss then hit with one upstream call, the entry at
api/<ns>/<op>/<request CID> and its TTL (docs/REFERENCE.md §8), the family's auth
header sent and never stored, models moved into the path (gemini, ovms), any
OPEA route, and tokens_saved from each API's own usage fields. Their failures
are test_family_errors.py's."""
import json
import os

import pytest

from cidlib import cid, request_cid
from fake_llm import KEYS, deadline, files_holding, llm, llm_mount  # noqa: F401  (fixtures; deadline is autouse)
from fake_llm_families import USAGE

ANTHROPIC = ("metadata", "cidcache")
OPENAI_STYLE = ("user", "metadata", "store", "cidcache")
NOTHING = ("cidcache",)


def bearer(ns):
    return ("authorization", f"Bearer {KEYS[ns]}")


def without(request, *names):
    return {k: v for k, v in request.items() if k not in names}


# One case a family operation: the request, the route the fake must see, the
# body it must receive (JSON), the TTL, the tokens one hit saves, the auth
# header (name, value) it must carry, the fields dropped before keying.
CASES = {
    "anthropic-messages": dict(
        ns="anthropic", op="messages",
        request={"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "temperature": 0,
                 "messages": [{"role": "user", "content": "Hello, Claude"}], "metadata": {"user_id": "u-42"}},
        route="/v1/messages", sent=lambda r: without(r, "metadata"), ttl=3600,
        tokens=USAGE["anthropic"]["input_tokens"] + USAGE["anthropic"]["output_tokens"], priced=True,
        auth=("x-api-key", KEYS["anthropic"]), dropped=ANTHROPIC),
    "gemini-generateContent": dict(
        ns="gemini", op="generateContent",
        request={"model": "gemini-2.0-flash", "contents": [{"role": "user", "parts": [{"text": "Explain CIDs"}]}],
                 "generationConfig": {"temperature": 0, "maxOutputTokens": 128}},
        route="/v1beta/models/gemini-2.0-flash:generateContent", sent=lambda r: without(r, "model"), ttl=3600,
        tokens=USAGE["gemini"]["promptTokenCount"] + USAGE["gemini"]["candidatesTokenCount"], priced=True,
        auth=("x-goog-api-key", KEYS["gemini"]), dropped=NOTHING),
    "gemini-thinking": dict(
        ns="gemini", op="generateContent",
        request={"model": "models/gemini-2.5-flash", "contents": [{"parts": [{"text": "Think first"}]}]},
        route="/v1beta/models/gemini-2.5-flash:generateContent", sent=lambda r: without(r, "model"), ttl=1800,
        tokens=USAGE["gemini"]["promptTokenCount"] + USAGE["gemini"]["candidatesTokenCount"] + USAGE["gemini_thoughts"],
        priced=False, auth=("x-goog-api-key", KEYS["gemini"]), dropped=NOTHING),
    "gemini-embedContent": dict(
        ns="gemini", op="embedContent",
        request={"model": "models/text-embedding-004", "content": {"parts": [{"text": "embed me"}]},
                 "taskType": "RETRIEVAL_DOCUMENT"},
        route="/v1beta/models/text-embedding-004:embedContent", sent=lambda r: without(r, "model"), ttl=86400,
        tokens=None, priced=False, auth=("x-goog-api-key", KEYS["gemini"]), dropped=NOTHING),
    "ollama-chat": dict(
        ns="ollama", op="chat",
        request={"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue?"}],
                 "stream": False, "options": {"temperature": 0, "seed": 7}, "keep_alive": "5m"},
        route="/api/chat", sent=lambda r: r, ttl=3600,
        tokens=USAGE["ollama"]["prompt_eval_count"] + USAGE["ollama"]["eval_count"], priced=False,
        auth=bearer("ollama"), dropped=NOTHING),
    "ollama-generate": dict(
        ns="ollama", op="generate",
        request={"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False},
        route="/api/generate", sent=lambda r: r, ttl=1800,
        tokens=USAGE["ollama"]["prompt_eval_count"] + USAGE["ollama"]["eval_count"], priced=False,
        auth=bearer("ollama"), dropped=NOTHING),
    "ollama-embed": dict(
        ns="ollama", op="embed",
        request={"model": "nomic-embed-text", "input": ["first", "second"]},
        route="/api/embed", sent=lambda r: r, ttl=86400, tokens=None, priced=False,
        auth=bearer("ollama"), dropped=NOTHING),
    "tgi-generate": dict(
        ns="tgi", op="generate",
        request={"inputs": "What is Deep Learning?",
                 "parameters": {"max_new_tokens": 5, "temperature": 0.5, "details": True, "decoder_input_details": True}},
        route="/generate", sent=lambda r: r, ttl=1800, tokens=2 + 5, priced=False,
        auth=bearer("tgi"), dropped=NOTHING),
    "tgi-chat": dict(
        ns="tgi", op="chat.completions",
        request={"model": "tgi", "messages": [{"role": "user", "content": "What is deep learning?"}],
                 "temperature": 0.7, "max_tokens": 20, "user": "u-1", "store": True},
        route="/v1/chat/completions", sent=lambda r: without(r, "user", "store"), ttl=1800,
        tokens=USAGE["tgi_chat"]["prompt_tokens"] + USAGE["tgi_chat"]["completion_tokens"], priced=False,
        auth=bearer("tgi"), dropped=OPENAI_STYLE),
    "tei-embed": dict(
        ns="tei", op="embed",
        request={"inputs": ["What is Deep Learning?", "Another sentence"], "normalize": True, "truncate": False},
        route="/embed", sent=lambda r: r, ttl=86400, tokens=None, priced=False,
        auth=bearer("tei"), dropped=NOTHING),
    "ovms-infer": dict(
        ns="ovms", op="infer",
        request={"model": "resnet", "model_version": 2, "id": "req-1",
                 "inputs": [{"name": "0", "shape": [1, 4], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}]},
        route="/v2/models/resnet/versions/2/infer", sent=lambda r: without(r, "model", "model_version"), ttl=1800,
        tokens=None, priced=False, auth=bearer("ovms"), dropped=NOTHING),
    "opea-chatqna": dict(
        ns="opea", op="chatqna",
        request={"messages": "What is the revenue of Nike in 2023?", "max_tokens": 64, "temperature": 0,
                 "stream": False},
        route="/v1/chatqna", sent=lambda r: r, ttl=1800, tokens=None, priced=False,
        auth=bearer("opea"), dropped=NOTHING),
    "opea-unlisted-route": dict(
        ns="opea", op="myroute",
        request={"messages": "A route no list names", "stream": False},
        route="/v1/myroute", sent=lambda r: r, ttl=1800, tokens=None, priced=False,
        auth=bearer("opea"), dropped=NOTHING),
}


def entry_path(m, ns, op, rcid):
    return m.p("api", ns, op, rcid)


def xattrs(path):
    return {name: os.getxattr(path, name).decode() for name in os.listxattr(path)}


def outcomes(m):
    return [line["outcome"] for line in m.json_lines("log")]


@pytest.mark.parametrize("name", list(CASES))
def test_miss_hit_entry_ttl_auth(llm_mount, llm, name):
    case = CASES[name]
    ns, op, request = case["ns"], case["op"], case["request"]
    m = llm_mount()

    first = m.query(ns, op, request)
    calls = llm.calls_of(ns)
    assert len(calls) == 1
    call = calls[0]
    # The family's own route, method and auth header; the caller's body minus dropped/moved members.
    assert call["method"] == "POST" and call["route"] == case["route"]
    header, value = case["auth"]
    assert call["headers"].get(header) == value
    if ns == "anthropic":
        assert call["headers"].get("anthropic-version") == "2023-06-01"
    assert call["headers"].get("content-type", "").startswith("application/json")
    assert json.loads(call["body"]) == case["sent"](request)
    assert call["status"] == 200
    # The answer is the upstream's bytes, unchanged.
    assert first == call["sent"]

    second = m.query(ns, op, request)
    assert second == first
    assert len(llm.calls_of(ns)) == 1
    assert outcomes(m) == ["miss", "hit"]
    stats = m.stats(f"{ns}.json")
    assert (stats["misses"], stats["hits"], stats["entries"]) == (1, 1, 1)
    if case["tokens"] is not None:
        assert stats["tokens_saved"] == case["tokens"]
    if case["priced"]:
        assert stats["cost_saved_usd"] > 0

    # The entry at api/<ns>/<op>/<request CID>, computed independently.
    rcid = request_cid(ns, op, request, dropped=case["dropped"])
    path = entry_path(m, ns, op, rcid)
    assert sorted(os.listdir(m.p("api", ns, op))) == sorted(["query", rcid])
    assert m.read("api", ns, op, rcid) == first
    st = os.stat(path)
    attributes = xattrs(path)
    assert attributes["user.cidcache.cid"] == cid(first)
    assert attributes["user.cidcache.request"] == rcid
    assert int(attributes["user.cidcache.ttl"]) == case["ttl"]
    assert int(attributes["user.cidcache.expires"]) == int(st.st_mtime) + case["ttl"]

    # The credential never reaches a file: not the store, the logs, the daemon's output.
    secrets = [KEYS[ns], KEYS[ns][-16:]]
    m.stop()
    assert files_holding(m.root, secrets) == []


def ttl(m, ns, op, request, dropped=NOTHING):
    m.query(ns, op, request)
    path = entry_path(m, ns, op, request_cid(ns, op, request, dropped=dropped))
    value = int(os.getxattr(path, "user.cidcache.ttl"))
    assert int(os.getxattr(path, "user.cidcache.expires")) == int(os.stat(path).st_mtime) + value
    return value


def test_ttl_rule_reads_each_familys_temperature(llm_mount):
    m = llm_mount()
    msgs = [{"role": "user", "content": "ttl"}]
    anthropic = {"model": "claude-3-5-haiku-20241022", "max_tokens": 16, "messages": msgs}
    for temperature, expected in ((0, 3600), (0.0, 3600), (0.7, 1800), (None, 1800), ("0", 1800), ("absent", 1800)):
        request = dict(anthropic) if temperature == "absent" else {**anthropic, "temperature": temperature}
        assert ttl(m, "anthropic", "messages", request, ANTHROPIC) == expected, temperature
    # Gemini reads generationConfig.temperature.
    gemini = {"model": "gemini-2.0-flash", "contents": [{"parts": [{"text": "ttl"}]}]}
    assert ttl(m, "gemini", "generateContent", {**gemini, "generationConfig": {"temperature": 0}}) == 3600
    assert ttl(m, "gemini", "generateContent", {**gemini, "generationConfig": {"temperature": 1}}) == 1800
    assert ttl(m, "gemini", "generateContent", {**gemini, "generationConfig": {"topK": 1}}) == 1800
    assert ttl(m, "gemini", "streamGenerateContent", {**gemini, "generationConfig": {"temperature": 0}}) == 3600
    assert ttl(m, "gemini", "streamGenerateContent", {**gemini, "generationConfig": {"temperature": 1}}) == 1800
    assert ttl(m, "gemini", "embedContent", {"model": "text-embedding-004", "content": {"parts": [{"text": "e"}]}}) == 86400
    # Ollama reads options.temperature; a top-level temperature is not Ollama's.
    ollama = {"model": "llama3.2", "prompt": "ttl", "stream": False}
    assert ttl(m, "ollama", "generate", {**ollama, "options": {"temperature": 0}}) == 3600
    assert ttl(m, "ollama", "generate", {**ollama, "options": {"temperature": 0.8}}) == 1800
    assert ttl(m, "ollama", "generate", {**ollama, "temperature": 0}) == 1800
    assert ttl(m, "ollama", "chat", {"model": "llama3.2", "messages": msgs, "stream": False,
                                     "options": {"temperature": 0}}) == 3600
    assert ttl(m, "ollama", "embed", {"model": "nomic-embed-text", "input": "e"}) == 86400
    # TGI generate: parameters.temperature (TGI refuses 0, so 1800 in practice); chat: temperature.
    assert ttl(m, "tgi", "generate", {"inputs": "ttl", "parameters": {"temperature": 0.5}}) == 1800
    assert ttl(m, "tgi", "generate", {"inputs": "ttl"}) == 1800
    assert ttl(m, "tgi", "chat.completions", {"model": "tgi", "messages": msgs, "temperature": 0.9}, OPENAI_STYLE) == 1800
    assert ttl(m, "tgi", "chat.completions", {"model": "tgi", "messages": msgs, "temperature": 0}, OPENAI_STYLE) == 3600
    # Fixed TTLs whatever the request says.
    assert ttl(m, "tei", "embed", {"inputs": "ttl"}) == 86400
    assert ttl(m, "ovms", "infer", {"model": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                                              "data": [1]}], "temperature": 0}) == 1800
    assert ttl(m, "opea", "chatqna", {"messages": "ttl", "stream": False, "temperature": 0}) == 1800
    assert ttl(m, "opea", "docsum", {"messages": "ttl", "stream": False}) == 1800


def test_gemini_model_moves_from_the_body_into_the_path(llm_mount, llm):
    m = llm_mount()
    raw = b'{"contents":  [{"parts": [{"text": "spacing kept"}]}], "model": "models/gemini-2.0-flash", "generationConfig": {"temperature": 0}}'
    m.query("gemini", "generateContent", raw)
    plain = {"model": "gemini-2.0-flash", "contents": [{"parts": [{"text": "spacing kept"}]}],
             "generationConfig": {"temperature": 0}}
    m.query("gemini", "generateContent", plain)
    calls = llm.calls_of("gemini")
    assert [c["route"] for c in calls] == ["/v1beta/models/gemini-2.0-flash:generateContent"] * 2
    for call in calls:
        assert "model" not in json.loads(call["body"])
        assert b"gemini-2.0-flash" not in call["body"]
    # The caller's bytes, minus the model member.
    assert b'"contents":  [{"parts": [{"text": "spacing kept"}]}]' in calls[0]["body"]
    assert json.loads(calls[0]["body"]) == {"contents": [{"parts": [{"text": "spacing kept"}]}],
                                            "generationConfig": {"temperature": 0}}
    # The model stays in the key as written: two spellings, two entries.
    spelled = json.loads(raw)
    for request in (spelled, plain):
        assert os.path.exists(entry_path(m, "gemini", "generateContent", request_cid("gemini", "generateContent", request)))
    # A model is required, and must be a string.
    assert m.query_errno("gemini", "generateContent", {"contents": []}) == "EINVAL"
    assert m.query_errno("gemini", "generateContent", {"model": 7, "contents": []}) == "EINVAL"
    assert len(llm.calls_of("gemini")) == 2


def test_ovms_model_and_version_in_the_path(llm_mount, llm):
    m = llm_mount()
    tensor = [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.5]}]
    requests = [{"model": "resnet", "inputs": tensor},
                {"model": "resnet", "model_version": 3, "inputs": tensor},
                {"model": "resnet", "model_version": "4", "inputs": tensor},
                {"model": "face detection", "inputs": tensor}]
    answers = [json.loads(m.query("ovms", "infer", r)) for r in requests]
    routes = [c["route"] for c in llm.calls_of("ovms")]
    assert routes == ["/v2/models/resnet/infer", "/v2/models/resnet/versions/3/infer",
                      "/v2/models/resnet/versions/4/infer", "/v2/models/face%20detection/infer"]
    for call in llm.calls_of("ovms"):
        body = json.loads(call["body"])
        assert body == {"inputs": tensor}
    assert answers[0]["model_name"] == "resnet" and answers[0]["outputs"][0]["data"] == [1.0, 3.0]
    assert answers[1]["model_version"] == "3"
    for request in requests:
        assert os.path.exists(entry_path(m, "ovms", "infer", request_cid("ovms", "infer", request)))
    assert m.query_errno("ovms", "infer", {"inputs": tensor}) == "EINVAL"
    assert m.query_errno("ovms", "infer", {"model": "..", "inputs": tensor}) == "EINVAL"
    assert len(llm.calls_of("ovms")) == 4


def test_opea_any_route(llm_mount, llm):
    m = llm_mount()
    listed = set(os.listdir(m.p("api", "opea")))
    assert {"chatqna", "codegen", "docsum", "translation"} <= listed
    assert "my-route_2" not in listed
    request = {"messages": "unlisted", "stream": False}
    answer = json.loads(m.query("opea", "my-route_2", request))
    assert answer["object"] == "chat.completion"
    assert [c["route"] for c in llm.calls_of("opea")] == ["/v1/my-route_2"]
    assert m.query("opea", "my-route_2", request) == llm.calls_of("opea")[0]["sent"]
    assert len(llm.calls_of("opea")) == 1
    assert os.path.exists(entry_path(m, "opea", "my-route_2", request_cid("opea", "my-route_2", request)))
    # Names that are not routes do not exist.
    for bad in ("MyRoute", "1route", "a.b"):
        with pytest.raises(OSError) as failure:
            os.open(m.p("api", "opea", bad, "query"), os.O_RDWR)
        assert failure.value.errno == 2, bad


def test_opea_streams_by_default(llm_mount, llm):
    m = llm_mount()
    request = {"messages": "What is OPEA?"}
    first = m.query("opea", "chatqna", request)
    assert first.endswith(b"data: [DONE]\n\n") and first == llm.calls_of("opea")[0]["sent"]
    assert m.query("opea", "chatqna", request) == first
    assert len(llm.calls_of("opea")) == 1


def test_keyless_families_work_without_a_key(llm_mount, llm):
    for family in ("ollama", "tgi", "tei", "ovms", "opea"):
        llm.tokens[family] = None
    m = llm_mount(keys=False)
    m.query("ollama", "generate", {"model": "llama3.2", "prompt": "no key", "stream": False})
    m.query("tgi", "generate", {"inputs": "no key"})
    m.query("tei", "embed", {"inputs": "no key"})
    m.query("ovms", "infer", {"model": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    m.query("opea", "chatqna", {"messages": "no key", "stream": False})
    for family in ("ollama", "tgi", "tei", "ovms", "opea"):
        calls = llm.calls_of(family)
        assert len(calls) == 1 and calls[0]["status"] == 200, family
        assert "authorization" not in calls[0]["headers"], family


def test_ollama_host_without_scheme(llm_mount, llm):
    """OLLAMA_HOST as Ollama's own client reads it: a bare host:port (here with a path)."""
    m = llm_mount(start=False)
    m.env.pop("CIDCACHE_OLLAMA_URL")
    m.env["OLLAMA_HOST"] = f"127.0.0.1:{llm.port}/ollama"
    m.start()
    m.query("ollama", "embed", {"model": "nomic-embed-text", "input": "host"})
    assert [c["route"] for c in llm.calls_of("ollama")] == ["/api/embed"]


def test_family_tree(llm_mount):
    m = llm_mount()
    assert {"anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea"} <= set(os.listdir(m.p("api")))
    assert os.listdir(m.p("api", "anthropic")) == ["messages"]
    assert sorted(os.listdir(m.p("api", "gemini"))) == ["embedContent", "generateContent", "streamGenerateContent"]
    assert sorted(os.listdir(m.p("api", "ollama"))) == ["chat", "embed", "generate"]
    assert sorted(os.listdir(m.p("api", "tgi"))) == ["chat.completions", "generate"]
    assert os.listdir(m.p("api", "tei")) == ["embed"]
    assert os.listdir(m.p("api", "ovms")) == ["infer"]
    for ns in ("anthropic", "gemini", "ollama", "tgi", "tei", "ovms", "opea"):
        assert os.path.exists(m.p("stats", f"{ns}.json"))
