"""A loopback fake of upstreams whose answers fail after a 2xx head, or whose
errors are not JSON: what test_failed_streams.py and test_http_front_streams.py
point namespaces at. Every key here is a made-up test value.

- Kubo's RPC API under `/api/v0/` (go-ipfs-cmds framing): `routing/findprovs`
  and `pin/ls?stream=true` stream NDJSON with chunked transfer encoding and
  `Trailer: X-Stream-Error`. The `arg` picks the ending: `trailer-*` ends the
  chunked body with the trailer `X-Stream-Error: <message>`, `errline-*` sends
  an in-stream error line `{"Message", "Code", "Type": "error"}` and ends
  cleanly, anything else ends cleanly. `files/stat` of `/ipfs/text400-*` is a
  plain-text 400 (a first line, then usage lines), of `/ipfs/text404-*` Go's
  plain "404 page not found", of `/ipfs/html403-*` a proxy's HTML page.
- OpenAI's `/openai/v1/chat/completions`: model `unasked-cut` streams server-sent
  events although the request did not ask, and ends cleanly before `data: [DONE]`;
  `unasked-whole` streams unasked to its `[DONE]`; `short-body` declares a
  Content-Length and closes the connection half-way.
- Ollama's `/ollama/api/chat`: model `unasked-cut` streams NDJSON to a request
  with `"stream": false` and ends cleanly before its `"done": true` line.
- Anthropic's `/anthropic/v1/messages`: a `"stream": true` request is answered
  with a whole `application/json` message, as some proxies do.

Every call is recorded (method, path) in `calls`.
"""
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from loopback import QuietHandler, serve_on_loopback, stop

KUBO_TOKEN = "kubo-test-token-not-real-0042"
STREAM_ERROR = "routing: query failed: context deadline exceeded"
PEER = "12D3KooWTestPeerNotAReaLNodeCCCCCCCCCCCCCCCCCCCCCCCC"
MESSAGE = {"id": "msg_test_whole_json_0001", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
           "content": [{"type": "text", "text": "a whole answer, not a stream"}], "stop_reason": "end_turn",
           "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 7}}


class FakeFailingUpstreams:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                url = urlsplit(self.path)
                with fake.lock:
                    fake.calls.append({"method": "POST", "path": self.path})
                query = parse_qs(url.query, keep_blank_values=True)
                if url.path.startswith("/api/v0/"):
                    return fake.kubo(self, url.path[len("/api/v0/"):], query)
                if url.path == "/openai/v1/chat/completions":
                    return fake.openai(self, body)
                if url.path == "/ollama/api/chat":
                    return fake.ollama(self, body)
                if url.path == "/anthropic/v1/messages":
                    return fake.send(self, 200, json.dumps(MESSAGE).encode(), "application/json")
                return fake.send(self, 404, b"404 page not found\n", "text/plain; charset=utf-8")

        self.server, self.url = serve_on_loopback(Handler)

    def stop(self):
        stop(self.server)

    def calls_to(self, prefix):
        with self.lock:
            return [c for c in self.calls if c["path"].startswith(prefix)]

    # Wire helpers

    @staticmethod
    def send(handler, status, data, content_type):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def chunked(handler, content_type, pieces, trailer=None, headers=()):
        """A chunked 200 of `pieces`, ended by the last chunk with `trailer` (name, value) when given."""
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        for piece in pieces:
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n" + (f"{trailer[0]}: {trailer[1]}\r\n".encode() if trailer else b"") + b"\r\n")

    # Kubo

    def kubo(self, handler, command, query):
        arg = query.get("arg", [""])[0]
        target = arg[len("/ipfs/"):] if arg.startswith("/ipfs/") else arg
        if command == "files/stat":
            if target.startswith("text400"):
                text = f'invalid path "{arg}": selected encoding not supported (token {KUBO_TOKEN})\n\nUSAGE\n  ipfs files stat <path>\n'
                return self.send(handler, 400, text.encode(), "text/plain; charset=utf-8")
            if target.startswith("html403"):
                page = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1>"
                        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
                return self.send(handler, 403, page.encode(), "text/html")
            return self.send(handler, 404, b"404 page not found\n", "text/plain; charset=utf-8")
        if command == "routing/findprovs":
            lines = [{"Extra": "", "ID": "", "Responses": None, "Type": 0},
                     {"Extra": "", "ID": "", "Responses": [{"Addrs": ["/ip4/10.0.0.9/tcp/4001"], "ID": PEER}], "Type": 4}]
        elif command == "pin/ls":
            lines = [{"Cid": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "Name": "", "Type": "recursive"}]
        else:
            return self.send(handler, 404, b"404 page not found\n", "text/plain; charset=utf-8")
        pieces = [json.dumps(line).encode() + b"\n" for line in lines]
        trailer = None
        if target.startswith("trailer"):
            trailer = ("X-Stream-Error", STREAM_ERROR)
        elif target.startswith("errline"):
            pieces.append(json.dumps({"Message": STREAM_ERROR, "Code": 0, "Type": "error"}).encode() + b"\n")
        self.chunked(handler, "application/json", pieces, trailer,
                     headers=[("X-Chunked-Output", "1"), ("Trailer", "X-Stream-Error")])

    # OpenAI, Ollama

    def openai(self, handler, body):
        model = body.get("model", "")
        chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": model,
                 "choices": [{"index": 0, "delta": {"content": "part"}, "finish_reason": None}]}
        events = [b"data: " + json.dumps(chunk).encode() + b"\n\n"] * 3
        if model == "unasked-cut":
            return self.chunked(handler, "text/event-stream; charset=utf-8", events)
        if model == "unasked-whole":
            return self.chunked(handler, "text/event-stream; charset=utf-8", events + [b"data: [DONE]\n\n"])
        if model == "short-body":
            data = json.dumps({"id": "chatcmpl-test", "object": "chat.completion", "choices": []}).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data) * 2))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
            handler.close_connection = True
            return None
        return self.send(handler, 404, b'{"error": {"message": "no such model"}}', "application/json")

    def ollama(self, handler, body):
        line = {"model": body.get("model", ""), "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": "part"}, "done": False}
        self.chunked(handler, "application/x-ndjson", [json.dumps(line).encode() + b"\n"] * 3)


KEYS = {"openai": "sk-test-not-a-real-key-0043", "anthropic": "sk-ant-test-not-a-real-key-0044"}


def point_at(env, fake):
    """Points the ipfs, openai, ollama and anthropic namespaces of a daemon's environment at the fake."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "OLLAMA_HOST"):
        env.pop(name, None)
    env.update({"CIDCACHE_IPFS_URL": fake.url, "CIDCACHE_IPFS_KEY": KUBO_TOKEN,
                "CIDCACHE_OPENAI_URL": fake.url + "/openai/v1", "CIDCACHE_OPENAI_KEY": KEYS["openai"],
                "CIDCACHE_OLLAMA_URL": fake.url + "/ollama",
                "CIDCACHE_ANTHROPIC_URL": fake.url + "/anthropic", "CIDCACHE_ANTHROPIC_KEY": KEYS["anthropic"]})


@pytest.fixture
def failing():
    """The fake, stopped at teardown."""
    server = FakeFailingUpstreams()
    yield server
    server.stop()
