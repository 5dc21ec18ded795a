"""Loopback fakes for the docker family: a Docker Engine API on a unix socket
and a v2 registry with the bearer-token handshake, both speaking the real wire
format (paths, query strings, JSON bodies, error bodies and headers)."""
import base64
import json
import os
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler

from loopback import LoopbackHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, content in headers:
            self.send_header(name, content)
        self.end_headers()
        self.wfile.write(body)


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


class FakeDockerEngine:
    """The Engine API of API version `version` on a unix socket."""

    IMAGES = {"alpine:3.19": "sha256:aaa", "ghcr.io/owner/tool:1.0": "sha256:bbb"}

    def __init__(self, version="v1.43"):
        self.dir = tempfile.mkdtemp(prefix="fake-docker-")
        self.socket = os.path.join(self.dir, "docker.sock")
        self.version = version
        self.calls = []
        fake = self

        class Handler(_Handler):
            def do_GET(self):
                url = urlsplit(self.path)
                fake.calls.append({"path": url.path, "query": parse_qs(url.query), "host": self.headers.get("Host")})
                prefix = "/" + fake.version
                if not url.path.startswith(prefix + "/"):
                    return self.send_json(400, {"message": f"client version not supported: {url.path}"})
                path = unquote(url.path[len(prefix):])
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.route(self, path, query)

        self.server = _UnixHTTPServer(self.socket, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "unix://" + self.socket

    def route(self, h, path, query):
        if path.startswith("/images/") and path.endswith("/json") and path != "/images/json":
            name = path[len("/images/"):-len("/json")]
            if name not in self.IMAGES:
                return h.send_json(404, {"message": f"No such image: {name}"})
            return h.send_json(200, {"Id": self.IMAGES[name], "RepoTags": [name], "Os": "linux"})
        if path.startswith("/images/") and path.endswith("/history"):
            name = path[len("/images/"):-len("/history")]
            if name not in self.IMAGES:
                return h.send_json(404, {"message": f"No such image: {name}"})
            return h.send_json(200, [{"Id": self.IMAGES[name], "CreatedBy": "/bin/sh -c #(nop) ADD file", "Size": 7}])
        if path == "/images/search":
            return h.send_json(200, [{"name": query.get("term", ""), "description": "limit=" + query.get("limit", ""),
                                      "star_count": 1, "is_official": True}])
        if path == "/containers/json":
            return h.send_json(200, [{"Id": "c1", "Names": ["/web"], "State": "running", "query": query}])
        if path.startswith("/containers/") and path.endswith("/json"):
            cid = path[len("/containers/"):-len("/json")]
            if cid != "c1":
                return h.send_json(404, {"message": f"No such container: {cid}"})
            return h.send_json(200, {"Id": "c1", "Name": "/web", "SizeRw": 12 if query.get("size") == "true" else None})
        if path.startswith("/volumes/"):
            name = path[len("/volumes/"):]
            if name != "data":
                return h.send_json(404, {"message": "get " + name + ": no such volume"})
            return h.send_json(200, {"Name": "data", "Driver": "local", "Mountpoint": "/var/lib/docker/volumes/data/_data"})
        if path.startswith("/networks/"):
            nid = path[len("/networks/"):]
            if nid == "forbidden":
                return h.send_json(403, {"message": "permission denied"})
            if nid == "broken":
                return h.send_json(500, {"message": "daemon error"})
            return h.send_json(200, {"Name": nid, "Driver": "bridge", "verbose": query.get("verbose")})
        return h.send_json(404, {"message": "page not found"})

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.socket)
            os.rmdir(self.dir)
        except OSError:
            pass


class FakeRegistry:
    """A v2 registry on 127.0.0.1: tag lists behind a bearer token from its own
    realm (`/token`), paged with `Link` headers; `private/*` repositories need
    basic credentials at the realm."""

    TAGS = {"library/ubuntu": ["20.04", "22.04", "24.04", "latest", "noble"],
            "team/app": ["v1", "v2"], "private/secret": ["s1"]}

    def __init__(self, user="reg-user", password="reg-pass-0001"):
        self.user, self.password = user, password
        self.calls = []
        self.tokens = {}
        fake = self

        class Handler(_Handler):
            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                auth = self.headers.get("Authorization")
                fake.calls.append({"path": url.path, "query": query, "auth": auth})
                if url.path == "/token":
                    return fake.token(self, query, auth)
                if url.path.startswith("/v2/") and url.path.endswith("/tags/list"):
                    return fake.tags(self, unquote(url.path[len("/v2/"):-len("/tags/list")]), query, auth)
                self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "no route"}]})

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def token(self, h, query, auth):
        scope = query.get("scope", "")
        repo = scope.split(":")[1] if scope.count(":") >= 2 else ""
        if query.get("service") != "fake-registry":
            return h.send_json(400, {"errors": [{"code": "UNSUPPORTED", "message": "wrong service"}]})
        if repo.startswith("private/"):
            expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if auth != expected:
                return h.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        token = f"token-{len(self.tokens) + 1}"
        self.tokens[token] = repo
        h.send_json(200, {"token": token, "expires_in": 300})

    def tags(self, h, repo, query, auth):
        token = auth[len("Bearer "):] if auth and auth.startswith("Bearer ") else None
        if token is None or self.tokens.get(token) != repo:
            challenge = (f'Bearer realm="{self.url}/token",service="fake-registry",'
                         f'scope="repository:{repo}:pull"')
            return h.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                               headers=[("WWW-Authenticate", challenge)])
        if repo not in self.TAGS:
            return h.send_json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}]})
        tags = self.TAGS[repo]
        if "last" in query:
            tags = [t for t in tags if t > query["last"]]
        n = int(query.get("n", 2))
        page, rest = tags[:n], tags[n:]
        headers = []
        if rest:
            headers.append(("Link", f'</v2/{repo}/tags/list?last={page[-1]}&n={n}>; rel="next"'))
        h.send_json(200, {"name": repo, "tags": page}, headers=headers)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
