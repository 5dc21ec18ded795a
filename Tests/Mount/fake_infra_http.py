"""A loopback fake of three metadata APIs in their real wire formats, on one
port (127.0.0.1:0):

- the Hugging Face Hub (`GET /api/models|datasets|spaces/...`): JSON answers,
  errors as `{"error": ...}` with an `X-Error-Code` header, the tree listing
  paged with `Link: <...>; rel="next"` (links name huggingface.co, as a mirror's
  do);
- GitHub's REST API under `/gh` (as GitHub Enterprise serves it under
  `/api/v3`): JSON answers with the `x-ratelimit-*` headers, errors as
  `{"message", "documentation_url"}`, code-scanning analyses paged;
- a Kubo node's RPC API (`POST /api/v0/...`): JSON, NDJSON for
  `routing/findprovs` (chunked, as Kubo streams it), errors as
  `{"Message", "Code", "Type"}` with status 500 (400 for client errors).

Tokens decide what a caller sees: `TOKEN_A` is alice, `TOKEN_B` is bob; the
HF repo `org/private` is alice's. Switches: `rate_limited` (GitHub answers 403
with `x-ratelimit-remaining: 0`), and names that fail: HF repo ids `err/401`,
`err/403`, `err/404`, `err/429`; HF repo ids `flaky/<n>` answer 503 to their
first n calls, `slow/<name>` after 0.3 s (`peak` counts the calls in flight at
once); GitHub owner `err` with repo `401`, `403`,
`404`, `429`; Kubo CIDs starting `missing` (not found) or `bad` (invalid).
Every call is recorded as (method, path with query, headers)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from loopback import send_answer, serve_on_loopback, stop as stop_server
from urllib.parse import parse_qs, quote, unquote, urlsplit

TOKEN_A = "ghp_test-not-a-real-token-alice"
TOKEN_B = "ghp_test-not-a-real-token-bob"
HF_TOKEN_A = "hf_test-not-a-real-token-alice"
HF_TOKEN_B = "hf_test-not-a-real-token-bob"
USERS = {TOKEN_A: ("alice", 1), TOKEN_B: ("bob", 2), HF_TOKEN_A: ("alice", 1), HF_TOKEN_B: ("bob", 2)}

SHA = "9a1e3b07c6d5f5f9a0b4e2d1c3f4a5b6c7d8e9f0"
OTHER_SHA = "1111111111111111111111111111111111111111"
CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
DOCS = "https://docs.github.com/rest"


def tree_entries(repo):
    entries = [{"type": "file", "oid": "a3" * 20, "size": 1100, "path": ".gitattributes"},
               {"type": "file", "oid": "b4" * 20, "size": 570, "path": "config.json"},
               {"type": "directory", "oid": "c5" * 20, "size": 0, "path": "onnx"},
               {"type": "file", "oid": "d6" * 20, "size": 437_985_387, "path": "onnx/model.onnx",
                "lfs": {"oid": "e7" * 32, "size": 437_985_387, "pointerSize": 135}},
               {"type": "file", "oid": "f8" * 20, "size": 440_473_133, "path": "model.safetensors",
                "lfs": {"oid": "09" * 32, "size": 440_473_133, "pointerSize": 135}}]
    return entries


def analysis(number, sha, language, tool="CodeQL"):
    return {"ref": "refs/heads/main", "commit_sha": sha,
            "analysis_key": ".github/workflows/codeql.yml:analyze",
            "environment": json.dumps({"language": language}),
            "category": f"/language:{language}", "error": "", "created_at": f"2024-05-0{number % 9 + 1}T10:00:00Z",
            "results_count": number, "rules_count": 100 + number, "id": 200 + number,
            "url": f"https://api.github.com/repos/o/r/code-scanning/analyses/{200 + number}",
            "sarif_id": f"6c81cd8e-b078-4ac3-a3be-1dad7dbd{number:04d}",
            "tool": {"name": tool, "guid": None, "version": "2.17.0"}, "deletable": True, "warning": ""}


# Newest first, as GitHub lists them: two of OTHER_SHA, then SHA's three, then older ones.
ANALYSES = [analysis(1, OTHER_SHA, "python"), analysis(2, OTHER_SHA, "go"),
            analysis(3, SHA, "python"), analysis(4, SHA, "javascript-typescript"), analysis(5, SHA, "go", tool="Semgrep"),
            analysis(6, "2" * 40, "python"), analysis(7, "3" * 40, "python"), analysis(8, "4" * 40, "python")]


class FakeInfra:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.rate_limited = False
        self.tree_page = 2
        self.analyses_page = 3
        self.event_gap = 0.05
        self.in_flight = 0
        self.peak = 0
        self.flaky_failures = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_call(self, method):
                length = int(self.headers.get("Content-Length", 0) or 0)
                if length:
                    self.rfile.read(length)
                with fake.lock:
                    fake.calls.append({"method": method, "path": self.path, "headers": dict(self.headers)})
                    fake.in_flight += 1
                    fake.peak = max(fake.peak, fake.in_flight)
                try:
                    self.route(method)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def route(self, method):
                url = urlsplit(self.path)
                query = parse_qs(url.query, keep_blank_values=True)
                if url.path.startswith("/api/v0/"):
                    fake.kubo(self, method, url.path[len("/api/v0/"):], query)
                elif url.path.startswith("/gh/"):
                    fake.github(self, method, url.path[len("/gh"):], query)
                elif url.path.startswith("/api/"):
                    fake.hub(self, method, url.path, query)
                else:
                    fake.send(self, 404, b"404 page not found", content_type="text/plain")

            def do_GET(self):
                self.handle_call("GET")

            def do_POST(self):
                self.handle_call("POST")

        self.server, self.url = serve_on_loopback(Handler)
        self.github_url = self.url + "/gh"

    def stop(self):
        stop_server(self.server)

    def calls_to(self, prefix):
        with self.lock:
            return [c for c in self.calls if c["path"].startswith(prefix)]

    # Wire helpers

    def send(self, handler, status, payload, headers=(), content_type="application/json; charset=utf-8"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        send_answer(handler, status, data, content_type, headers)

    @staticmethod
    def bearer(handler):
        value = handler.headers.get("Authorization", "")
        return value[len("Bearer "):] if value.startswith("Bearer ") else None

    # The Hugging Face Hub

    def hub_error(self, handler, status, code, message):
        self.send(handler, status, {"error": message}, headers=[("X-Error-Code", code), ("X-Error-Message", message)])

    def hub(self, handler, method, path, query):
        if method != "GET":
            return self.send(handler, 405, {"error": "Method not allowed"})
        token = self.bearer(handler)
        if token is not None and token not in USERS:
            return self.send(handler, 401, {"error": "Invalid credentials in Authorization header"})
        if path == "/api/models-tags-by-type":
            tags = {"pipeline_tag": [{"id": "text-classification", "label": "Text Classification", "type": "pipeline_tag"}],
                    "library": [{"id": "transformers", "label": "Transformers", "type": "library"}]}
            if "type" in query:
                tags = {k: v for k, v in tags.items() if k == query["type"][0]}
            return self.send(handler, 200, tags)
        parts = [unquote(p) for p in path.split("/")[2:]]  # after /api/
        kind = parts[0]
        if kind not in ("models", "datasets", "spaces"):
            return self.hub_error(handler, 404, "EntryNotFound", "Sorry, we can't find the page you are looking for.")
        if len(parts) == 1:
            items = [{"_id": "6520" + str(i), "id": f"org/{kind[:-1]}-{i}", "likes": 10 - i, "downloads": 1000 * i,
                      "tags": ["transformers", "safetensors"], "private": False, "createdAt": "2024-01-01T00:00:00.000Z"}
                     for i in range(int(query.get("limit", ["3"])[0]))]
            if "search" in query:
                items = [dict(item, search=query["search"][0]) for item in items]
            return self.send(handler, 200, items)
        repo = "/".join(parts[1:3]) if len(parts) >= 3 else parts[1]
        rest = parts[3:] if len(parts) >= 3 else parts[2:]
        if repo.startswith("err/"):
            status = int(repo[4:])
            code, message = {401: ("RepoNotFound", "Invalid username or password."),
                             403: ("GatedRepo", f"Access to model {repo} is restricted. You must have access to it and be authenticated to access it."),
                             404: ("RepoNotFound", "Repository not found"),
                             429: ("RateLimited", "You have been rate-limited; you can retry this action in about 5 minutes.")}[status]
            return self.hub_error(handler, status, code, message)
        if repo.startswith("flaky/"):
            with self.lock:
                failed = self.flaky_failures.get(path, 0)
                self.flaky_failures[path] = failed + 1
            if failed < int(repo[len("flaky/"):]):
                return self.hub_error(handler, 503, "ServiceUnavailable", "The Hub is temporarily unavailable.")
        if repo.startswith("slow/"):
            time.sleep(0.3)
        if repo == "org/private" and USERS.get(token, ("",))[0] != "alice":
            return self.hub_error(handler, 401, "RepoNotFound", "Invalid username or password.")
        if not rest or rest[0] == "revision":
            revision = rest[1] if len(rest) > 1 else "main"
            info = {"_id": "64bf" + str(len(repo)), "id": repo, "author": repo.split("/")[0], "sha": "7c" * 20,
                    "lastModified": "2024-03-11T14:12:05.000Z", "private": repo == "org/private", "disabled": False,
                    "gated": False, "tags": ["transformers", "pytorch", "bert"], "downloads": 41_123, "likes": 1780,
                    "siblings": [{"rfilename": e["path"]} for e in tree_entries(repo) if e["type"] == "file"],
                    "revision": revision, "createdAt": "2022-03-02T23:29:04.000Z"}
            if kind == "models":
                info.update({"modelId": repo, "pipeline_tag": "fill-mask", "library_name": "transformers"})
            if kind == "spaces":
                info.update({"sdk": "gradio", "runtime": {"stage": "RUNNING"}})
            if token:
                info["viewer"] = USERS[token][0]
            return self.send(handler, 200, info)
        if rest[0] == "tree":
            entries = tree_entries(repo)
            cursor = int(query.get("cursor", ["0"])[0])
            page = entries[cursor:cursor + self.tree_page]
            headers = []
            if cursor + self.tree_page < len(entries):
                # Links name the Hub's own host, as a mirror's do: the client must stay on its endpoint.
                headers.append(("Link", f'<https://huggingface.co{path}?recursive={query.get("recursive", ["false"])[0]}'
                                        f'&cursor={cursor + self.tree_page}>; rel="next"'))
            return self.send(handler, 200, page, headers=headers)
        if rest[0] == "commits":
            if rest[1:] != ["main"] and rest[1:] != ["v1.0"]:
                return self.hub_error(handler, 404, "RevisionNotFound", f"Invalid rev id: {'/'.join(rest[1:])}")
            return self.send(handler, 200, [{"id": "7c" * 20, "title": "Upload model", "message": "",
                                             "authors": [{"user": "alice", "avatar": "https://x/a.png"}],
                                             "date": "2024-03-11T14:12:05.000Z"},
                                            {"id": "8d" * 20, "title": "initial commit", "message": "", "authors": [],
                                             "date": "2022-03-02T23:29:04.000Z"}])
        return self.hub_error(handler, 404, "EntryNotFound", "Entry not found")

    # GitHub

    def rate_headers(self, remaining):
        return [("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", str(remaining)),
                ("x-ratelimit-reset", "1893456000"), ("x-ratelimit-used", str(5000 - remaining)),
                ("x-ratelimit-resource", "core"), ("X-GitHub-Media-Type", "github.v3; format=json")]

    def gh_error(self, handler, status, message, headers=(), remaining=4999):
        self.send(handler, status, {"message": message, "documentation_url": DOCS, "status": str(status)},
                  headers=list(headers) + self.rate_headers(remaining))

    def github(self, handler, method, path, query):
        if self.rate_limited:
            return self.gh_error(handler, 403, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                                 "for help, please include the request ID 0451:2E1A:1C0A:2B0C.", remaining=0)
        token = self.bearer(handler)
        if token is not None and token not in USERS:
            return self.gh_error(handler, 401, "Bad credentials")
        user = USERS.get(token)
        parts = [unquote(p) for p in path.split("/")[1:]]
        if parts[:1] == ["repos"] and parts[1] == "err":
            status = int(parts[2])
            if status == 429:
                return self.gh_error(handler, 429, "You have exceeded a secondary rate limit. Please wait a few minutes "
                                     "before you try again.", headers=[("retry-after", "60")])
            message = {401: "Requires authentication", 403: "Resource not accessible by integration", 404: "Not Found"}[status]
            return self.gh_error(handler, status, message)

        def repo(owner, name, private):
            return {"id": hash((owner, name)) & 0xFFFFFF, "node_id": "R_kgDO" + name, "name": name,
                    "full_name": f"{owner}/{name}", "private": private, "owner": {"login": owner, "type": "User"},
                    "html_url": f"https://github.com/{owner}/{name}", "default_branch": "main"}

        if parts == ["user", "repos"]:
            if user is None:
                return self.gh_error(handler, 401, "Requires authentication")
            login = user[0]
            return self.send(handler, 200, [repo(login, f"secret-{login}", True), repo(login, "public-notes", False)],
                             headers=self.rate_headers(4998))
        if len(parts) == 3 and parts[0] in ("orgs", "users") and parts[2] == "repos":
            return self.send(handler, 200, [repo(parts[1], "tools", False)], headers=self.rate_headers(4997))
        if len(parts) >= 5 and parts[0] == "repos" and parts[3] == "actions" and parts[-1] == "runs":
            runs = [{"id": 30433642 + i, "name": "CI", "head_branch": branch, "head_sha": SHA, "run_number": 560 + i,
                     "event": "push", "status": status, "conclusion": "success" if status == "completed" else None,
                     "workflow_id": 159038, "created_at": "2024-05-01T10:00:00Z"}
                    for i, (branch, status) in enumerate([("main", "completed"), ("dev", "in_progress"), ("main", "queued")])]
            if "branch" in query:
                runs = [r for r in runs if r["head_branch"] == query["branch"][0]]
            if "status" in query:
                runs = [r for r in runs if r["status"] == query["status"][0]]
            runs = runs[:int(query.get("per_page", ["30"])[0])]
            return self.send(handler, 200, {"total_count": len(runs), "workflow_runs": runs}, headers=self.rate_headers(4996))
        if parts[-2:] == ["actions", "runners"]:
            if user is None:
                return self.gh_error(handler, 401, "Requires authentication")
            runner = {"id": 23, "name": f"{user[0]}-runner", "os": "linux", "status": "online", "busy": False,
                      "labels": [{"id": 5, "name": "self-hosted", "type": "read-only"}]}
            return self.send(handler, 200, {"total_count": 1, "runners": [runner]}, headers=self.rate_headers(4995))
        if len(parts) == 5 and parts[0] == "repos" and parts[3:] == ["code-scanning", "analyses"]:
            if parts[1:3] != ["o", "r"]:
                return self.gh_error(handler, 404, "no analysis found")
            items = [a for a in ANALYSES if "tool_name" not in query or a["tool"]["name"] == query["tool_name"][0]]
            page = int(query.get("page", ["1"])[0])
            size = min(self.analyses_page, int(query.get("per_page", ["30"])[0]))
            chunk = items[(page - 1) * size:page * size]
            headers = list(self.rate_headers(4994))
            if page * size < len(items):
                # GitHub's links repeat the other parameters of the call.
                base = f"{self.github_url}/repos/o/r/code-scanning/analyses?" + "".join(
                    f"{k}={quote(v[0], safe='')}&" for k, v in query.items() if k not in ("per_page", "page"))
                headers.append(("Link", f'<{base}per_page={size}&page={page + 1}>; rel="next", '
                                        f'<{base}per_page={size}&page={(len(items) + size - 1) // size}>; rel="last"'))
            return self.send(handler, 200, chunk, headers=headers)
        return self.gh_error(handler, 404, "Not Found")

    # Kubo

    def kubo_error(self, handler, status, message, code=0):
        self.send(handler, status, {"Message": message, "Code": code, "Type": "error"},
                  headers=[("Trailer", "X-Stream-Error"), ("Vary", "Origin")])

    def kubo(self, handler, method, command, query):
        if method != "POST":
            return self.send(handler, 405, b"405 - Method Not Allowed", content_type="text/plain; charset=utf-8")
        arg = query.get("arg", [None])[0]
        target = arg[len("/ipfs/"):] if arg and arg.startswith("/ipfs/") else arg
        if command in ("files/stat", "block/stat", "routing/findprovs") and arg is None:
            return self.kubo_error(handler, 400, f'argument "{"path" if command == "files/stat" else "cid"}" is required', code=1)
        if target and target.startswith("bad"):
            return self.kubo_error(handler, 500, f'invalid path "{arg}": invalid cid: selected encoding not supported')
        if target and target.startswith("missing"):
            if command == "pin/ls":
                return self.kubo_error(handler, 500, f"path '{arg}' is not pinned")
            return self.kubo_error(handler, 500, f"block was not found locally (offline): ipld: could not find {target}")
        if target and target.startswith("crash"):
            return self.kubo_error(handler, 500, "failed to get block: context deadline exceeded")
        if command == "files/stat":
            return self.send(handler, 200, {"Hash": target, "Size": 11, "CumulativeSize": 11, "Blocks": 0, "Type": "file"})
        if command == "block/stat":
            return self.send(handler, 200, {"Key": target, "Size": 11})
        if command == "pin/ls":
            keys = {CID: {"Type": "recursive", "Name": ""}, "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi": {"Type": "indirect", "Name": ""}}
            if target:
                keys = {target: {"Type": "recursive", "Name": ""}}
            if "type" in query and query["type"][0] != "all":
                keys = {k: v for k, v in keys.items() if v["Type"] == query["type"][0]}
            return self.send(handler, 200, {"Keys": keys})
        if command == "routing/findprovs":
            events = [{"Extra": "", "ID": "", "Responses": None, "Type": 0},
                      {"Extra": "", "ID": "", "Responses": [{"Addrs": ["/ip4/10.0.0.7/tcp/4001", "/ip4/10.0.0.7/udp/4001/quic-v1"],
                                                              "ID": "12D3KooWTestPeerNotAReaLNodeAAAAAAAAAAAAAAAAAAAAAAAA"}], "Type": 4},
                      {"Extra": "", "ID": "", "Responses": [{"Addrs": [], "ID": "12D3KooWTestPeerNotAReaLNodeBBBBBBBBBBBBBBBBBBBBBBBB"}], "Type": 4}]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("X-Chunked-Output", "1")
            handler.send_header("Trailer", "X-Stream-Error")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                handler.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                handler.wfile.flush()
                time.sleep(self.event_gap)  # events come as the DHT walk finds them
            handler.wfile.write(b"0\r\n\r\n")
            return None
        return self.send(handler, 404, b"404 page not found", content_type="text/plain; charset=utf-8")
