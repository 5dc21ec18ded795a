"""No credential ever leaves its origin: redirects and paging links that name
another origin, for every family that sends one.

Two loopback servers on 127.0.0.1 (so two origins: two ports). A, where a
namespace points (CIDCACHE_<NS>_URL) with a credential (CIDCACHE_<NS>_KEY),
answers with a redirect to the same path and query on B; B records every
request and answers 200 with a valid answer for the operation.

Every family but s3 follows a cross-origin redirect without any credential
(303 becomes a GET without a body, and so does a POST after 301/302, as
browsers and httpx do; 307/308 keep the method and the body) and answers
with B's answer. s3 (SigV4 signs the host) refuses it: EIO, with an `errors`
line that names the redirect and its target origin, and B sees nothing. A
same-origin redirect keeps the credential. Paging links (`Link: rel="next"`)
that name another origin never take the credential there either."""
import base64
import errno
import json
import threading
from http.server import BaseHTTPRequestHandler

from loopback import LoopbackHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

CRED = "test-credential-not-real-0001"
S3_SECRET = "test-s3-secret-not-real-0002"
S3_SESSION = "test-s3-session-token-not-real-0003"
BASIC = base64.b64encode(f"user:{CRED}".encode()).decode()
SECRETS = (CRED, S3_SECRET, S3_SESSION, BASIC, base64.b64encode(CRED.encode()).decode())
FORBIDDEN = ("authorization", "proxy-authorization", "cookie", "x-api-key", "x-goog-api-key")
STATUSES = (301, 302, 303, 307, 308)
SHA = "9a1e3b07c6d5f5f9a0b4e2d1c3f4a5b6c7d8e9f0"
IPFS_CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
# Ecosystem variables that would otherwise point a namespace elsewhere or give it another credential.
ECOSYSTEM = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY",
             "GOOGLE_API_KEY", "OLLAMA_HOST", "HF_TOKEN", "HF_ENDPOINT", "GROQ_API_KEY", "VLLM_API_KEY", "GH_TOKEN",
             "GITHUB_TOKEN", "GITHUB_API_URL", "DOCKER_HOST", "DOCKER_API_VERSION")


class Server:
    """A loopback HTTP server: records every request (method, path with query,
    lower-cased headers, body) and answers with respond(call) -> (status, headers, body)."""

    def __init__(self):
        self.calls = []
        self.respond = lambda call: (404, [], b"{}")
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                call = {"method": self.command, "path": self.path, "body": self.rfile.read(length) if length else b"",
                        "headers": {k.lower(): v for k, v in self.headers.items()}}
                server.calls.append(call)
                status, headers, body = server.respond(call)
                call["status"] = status
                body = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = answer

        self.httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.hostport = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.hostport}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    """(A, B): two origins, stopped at teardown."""
    a, b = Server(), Server()
    yield a, b
    a.stop()
    b.stop()


def redirect(status, target):
    """A responder answering every call with `status` to target(path)."""
    return lambda call: (status, [("Location", target(call["path"]))], b"")


def leaks(call):
    """What in one recorded request carries a credential (empty: nothing)."""
    found = [name for name in call["headers"] if name in FORBIDDEN or name.startswith("x-amz-")]
    found += [f"{name} holds a credential" for name, value in call["headers"].items()
              if any(secret in value for secret in SECRETS)]
    found += ["the URL holds a credential" for secret in SECRETS if secret in call["path"] + unquote(call["path"])]
    return found


def variable(namespace, suffix):
    return "CIDCACHE_" + namespace.upper().replace(".", "_").replace("-", "_") + "_" + suffix


def mount_env(m, env):
    for name in list(m.env):
        if name in ECOSYSTEM or name.startswith("AWS_") or name.startswith(("CIDCACHE_S3_", "CIDCACHE_DOCKER_")):
            del m.env[name]
    m.env.update(env)
    return m.start()


def keyed(ns, suffix=""):
    """The usual environment: the namespace at A (plus suffix) with CRED."""
    return lambda a: {variable(ns, "URL"): a.url + suffix, variable(ns, "KEY"): CRED}


def registry_env(a):
    return {"CIDCACHE_DOCKER_URL": "tcp://" + a.hostport, "CIDCACHE_DOCKER_REGISTRY": a.url,
            "CIDCACHE_DOCKER_KEY": "user:" + CRED}


def s3_env(a):
    return {"CIDCACHE_S3_URL": a.url, "CIDCACHE_S3_KEY": CRED, "CIDCACHE_S3_SECRET_ACCESS_KEY": S3_SECRET,
            "CIDCACHE_S3_SESSION_TOKEN": S3_SESSION, "CIDCACHE_S3_REGION": "us-east-1"}


MSG = [{"role": "user", "content": "hi"}]
CHAT = {"id": "chatcmpl-b", "object": "chat.completion", "created": 1700000000, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "from B"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
ANTHROPIC = {"id": "msg_b", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
             "content": [{"type": "text", "text": "from B"}], "stop_reason": "end_turn", "stop_sequence": None,
             "usage": {"input_tokens": 1, "output_tokens": 1}}
ANTHROPIC_REQUEST = {"model": "claude-3-5-haiku-20241022", "max_tokens": 8, "messages": MSG, "temperature": 0}
TAGS = {"name": "team/app", "tags": ["v1", "v2"]}
LIST_XML = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Name>bucket</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false"
            b"</IsTruncated><Contents><Key>k.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"
            b"&quot;abc&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>")
HEAD_HEADERS = [("Content-Type", "text/plain"), ("ETag", '"abc"'), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]

# One case a family (operation): the request, the environment pointing it at A,
# and B's answer (a JSON value, or (headers, bytes)). `registry`: A is a v2
# registry whose token realm is on A too (so the basic credential and the
# bearer token both meet a redirect); `signs`: the credential reaches A.
CASES = {
    "openai": dict(ns="openai", op="chat.completions", request={"model": "gpt-4o-mini", "messages": MSG, "temperature": 0},
                   env=keyed("openai", "/v1"), answer=CHAT),
    "anthropic": dict(ns="anthropic", op="messages", request=ANTHROPIC_REQUEST, env=keyed("anthropic"), answer=ANTHROPIC),
    "gemini": dict(ns="gemini", op="generateContent",
                   request={"model": "gemini-2.0-flash", "contents": [{"parts": [{"text": "hi"}]}]},
                   env=keyed("gemini"), answer={
                       "candidates": [{"content": {"parts": [{"text": "from B"}], "role": "model"},
                                       "finishReason": "STOP", "index": 0}],
                       "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}}),
    "ollama": dict(ns="ollama", op="chat", request={"model": "llama3.2", "messages": MSG, "stream": False},
                   env=keyed("ollama"), answer={"model": "llama3.2", "created_at": "2024-08-07T03:57:33Z",
                                                "message": {"role": "assistant", "content": "from B"}, "done": True,
                                                "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}),
    "tgi": dict(ns="tgi", op="generate", request={"inputs": "hi", "parameters": {"max_new_tokens": 4}},
                env=keyed("tgi"), answer={"generated_text": "from B"}),
    "tei": dict(ns="tei", op="embed", request={"inputs": "hi"}, env=keyed("tei"), answer=[[0.25, 0.5]]),
    "ovms": dict(ns="ovms", op="infer",
                 request={"model": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
                 env=keyed("ovms"), answer={"model_name": "m", "model_version": "1", "outputs": [
                     {"name": "out", "shape": [1], "datatype": "FP32", "data": [2.0]}]}),
    "opea": dict(ns="opea", op="chatqna", request={"messages": "hi", "stream": False}, env=keyed("opea"), answer=CHAT),
    "hf": dict(ns="hf", op="model_info", request={"repo_id": "org/model"}, env=keyed("hf"),
               answer={"id": "org/model", "sha": "7c" * 20, "private": False}),
    "github": dict(ns="github", op="list_repos", request={"org": "octo-org"}, env=keyed("github"),
                   answer=[{"id": 1, "name": "tools", "full_name": "octo-org/tools", "private": False}]),
    "codeql": dict(ns="codeql", op="analyses", request={"repo": "o/r", "sha": SHA}, env=keyed("codeql"),
                   answer=[{"id": 203, "commit_sha": SHA, "category": "/language:python",
                            "tool": {"name": "CodeQL", "guid": None, "version": "2.17.0"}}]),
    "ipfs": dict(ns="ipfs", op="stat", request={"cid": IPFS_CID}, env=keyed("ipfs"),
                 answer={"Hash": IPFS_CID, "Size": 11, "CumulativeSize": 11, "Blocks": 0, "Type": "file"}),
    "s3-list_objects": dict(ns="s3", op="list_objects", request={"bucket": "bucket"}, env=s3_env,
                            answer=([("Content-Type", "application/xml")], LIST_XML)),
    "s3-head_object": dict(ns="s3", op="head_object", request={"bucket": "bucket", "key": "k.txt"}, env=s3_env,
                           answer=(HEAD_HEADERS, b"")),
    "docker-engine": dict(ns="docker", op="images.inspect", request={"name": "alpine:3.19"}, signs=False,
                          env=lambda a: {**registry_env(a), "CIDCACHE_DOCKER_REGISTRY": "registry.invalid"},
                          answer={"Id": "sha256:aaa", "RepoTags": ["alpine:3.19"], "Os": "linux"}),
    "docker-registry": dict(ns="docker", op="registry.tags", request={"repository": "team/app"}, env=registry_env,
                            registry=True, answer=TAGS),
}


def answer_of(case):
    def respond(call):
        if case.get("registry") and call["path"].startswith("/token"):
            return 200, [("Content-Type", "application/json")], {"token": "token-issued-by-b"}
        answer = case["answer"]
        if isinstance(answer, tuple):
            return (200,) + answer
        return 200, [("Content-Type", "application/json")], answer
    return respond


def challenging(a, respond, token=None):
    """A registry's front: a v2 call without Authorization gets a Bearer
    challenge whose realm is on this origin; `/token` gives `token` (when
    set); everything else goes to respond."""
    def front(call):
        if call["path"].startswith("/v2/") and "authorization" not in call["headers"]:
            challenge = f'Bearer realm="{a.url}/token",service="fake-registry",scope="repository:team/app:pull"'
            return 401, [("WWW-Authenticate", challenge), ("Content-Type", "application/json")], \
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if token and call["path"].startswith("/token"):
            return 200, [("Content-Type", "application/json")], {"token": token}
        return respond(call)
    return front


def redirected(method, status):
    """The method a client sends after a redirect: 303 makes anything but HEAD
    a GET, 301/302 make a POST a GET; 307/308 keep it."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET"
    return method


@pytest.mark.parametrize("name, status", [(n, s) for n in CASES for s in STATUSES],
                         ids=[f"{n}-{s}" for n in CASES for s in STATUSES])
def test_cross_origin_redirect_carries_no_credential(make_mount, servers, name, status):
    case = CASES[name]
    a, b = servers
    a.respond = redirect(status, lambda path: b.url + path)
    if case.get("registry"):
        a.respond = challenging(a, a.respond)
    b.respond = answer_of(case)
    m = mount_env(make_mount(), case["env"](a))
    errors_before = len(m.json_lines("errors"))

    try:
        answer, failure = m.query(case["ns"], case["op"], case["request"]), None
    except OSError as error:
        answer, failure = None, error

    # The test means something: the credential did reach its own origin.
    if case.get("signs", True):
        assert any(secret in value for call in a.calls for value in call["headers"].values() for secret in SECRETS), \
            "A never received the credential"
    # B never sees a credential, whatever the family does with the redirect.
    for call in b.calls:
        assert not leaks(call), f"B saw {', '.join(leaks(call))} on {call['method']} {call['path']}"

    if case["ns"] == "s3":
        assert b.calls == [], f"s3 followed the redirect to B: {[c['method'] + ' ' + c['path'] for c in b.calls]}"
        assert failure is not None and failure.errno == errno.EIO, f"s3 answered {answer!r}, not EIO"
        new = m.json_lines("errors")[errors_before:]
        assert len(new) == 1 and new[0]["errno"] == "EIO", new
        assert "redirect" in new[0]["message"].lower() and b.url in new[0]["message"], new[0]["message"]
        assert not any(secret in new[0]["message"] for secret in SECRETS)
        return

    assert failure is None, f"the query failed ({failure}): {m.json_lines('errors')[errors_before:]}"
    expected = case["answer"]
    assert json.loads(answer) == expected
    # The redirected requests B got: the method (and body) a redirect keeps or changes.
    sent_away = [call for call in a.calls if call["status"] == status]
    assert [c["path"] for c in b.calls] == [c["path"] for c in sent_away]
    for first, then in zip(sent_away, b.calls):
        method = redirected(first["method"], status)
        assert then["method"] == method, (first["method"], status, then["method"])
        assert then["body"] == (first["body"] if method == first["method"] else b"")


@pytest.mark.parametrize("status", STATUSES)
def test_same_origin_redirect_keeps_the_credential(make_mount, servers, status):
    a, _ = servers

    def respond(call):
        if call["path"].startswith("/moved/"):
            return 200, [("Content-Type", "application/json")], ANTHROPIC
        return status, [("Location", a.url + "/moved" + call["path"])], b""

    a.respond = respond
    m = mount_env(make_mount(), keyed("anthropic")(a))
    assert json.loads(m.query("anthropic", "messages", ANTHROPIC_REQUEST)) == ANTHROPIC
    first, then = a.calls
    assert (first["path"], then["path"]) == ("/v1/messages", "/moved/v1/messages")
    assert first["headers"].get("x-api-key") == CRED
    assert then["headers"].get("x-api-key") == CRED, "the credential was dropped on a same-origin hop"
    assert then["headers"].get("anthropic-version") == "2023-06-01"
    method = redirected("POST", status)
    assert then["method"] == method
    assert then["body"] == (first["body"] if method == "POST" else b"")


def pages_of(pages):
    """A responder serving paged JSON by the call's query: pages maps a sorted
    tuple of query pairs to (body, the next page's query or None); links name `link_to`."""
    def respond(call, link_to):
        url = urlsplit(call["path"])
        key = tuple(sorted(parse_qsl(url.query, keep_blank_values=True)))
        if key not in pages:
            return 404, [("Content-Type", "application/json")], {"error": f"no page {call['path']}"}
        body, next_query = pages[key]
        headers = [("Content-Type", "application/json")]
        if next_query:
            headers.append(("Link", f'<{link_to}{url.path}?{next_query}>; rel="next"'))
        return 200, headers, body
    return respond


def q(text):
    return tuple(sorted(parse_qsl(text, keep_blank_values=True)))


TREE = [{"type": "file", "oid": "a3" * 20, "size": 11, "path": p} for p in ("a.txt", "b.txt", "c.txt")]
ANALYSES = [{"id": i, "commit_sha": SHA, "category": "/language:python", "tool": {"name": "CodeQL", "guid": None}}
            for i in (301, 302)]
PAGING = {
    "hf": dict(ns="hf", op="list_repo_files", request={"repo_id": "org/model"}, env=keyed("hf"),
               pages={q("recursive=true"): (TREE[:2], "recursive=true&cursor=2"),
                      q("recursive=true&cursor=2"): (TREE[2:], None)}, expected=TREE),
    "codeql": dict(ns="codeql", op="analyses", request={"repo": "o/r", "sha": SHA}, env=keyed("codeql"),
                   pages={q("per_page=100"): (ANALYSES[:1], "per_page=100&page=2"),
                          q("per_page=100&page=2"): (ANALYSES[1:], None)}, expected=ANALYSES),
    "docker": dict(ns="docker", op="registry.tags", request={"repository": "team/app"}, env=registry_env,
                   registry=True, pages={q(""): (TAGS, "last=v2&n=2"),
                                         q("last=v2&n=2"): ({"name": "team/app", "tags": ["v3"]}, None)},
                   expected={"name": "team/app", "tags": ["v1", "v2", "v3"]}),
}


@pytest.mark.parametrize("name", list(PAGING))
def test_next_page_link_to_another_origin_carries_no_credential(make_mount, servers, name):
    case = PAGING[name]
    a, b = servers
    serve = pages_of(case["pages"])
    # A serves every page, its links naming B; B serves the same pages, unauthenticated.
    a.respond = lambda call: serve(call, b.url)
    if case.get("registry"):
        a.respond = challenging(a, a.respond, token=CRED + "-registry-token")
    b.respond = lambda call: serve(call, b.url)
    m = mount_env(make_mount(), case["env"](a))
    answer = m.query(case["ns"], case["op"], case["request"])
    assert any(secret in value for call in a.calls for value in call["headers"].values() for secret in SECRETS)
    for call in b.calls:
        assert not leaks(call), f"B saw {', '.join(leaks(call))} on {call['method']} {call['path']}"
    assert json.loads(answer) == case["expected"]
