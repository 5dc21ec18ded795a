"""A loopback fake of OpenAI's REST API (chat completions, completions,
embeddings) in its real wire format, with switches for failures.

The request's `model` picks the behaviour: `fail-400`, `fail-401`, `fail-404`,
`fail-429`, `fail-500` answer with OpenAI's error body; `slow-<seconds>` waits
before answering; `stream-cut` sends part of a body then drops the connection;
`flaky-<n>` fails the first n calls of a body with 500 (`flaky429-<n>`: 429
with Retry-After: 1). Every call is recorded (path, headers, raw body), and
the most calls in progress at once is kept in `peak`.
"""
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("invalid_request_error", None),
    404: ("invalid_request_error", "The model does not exist or you do not have access to it."),
    429: ("rate_limit_error", "Rate limit reached for requests"),
    500: ("server_error", "The server had an error while processing your request."),
}


class FakeOpenAI:
    def __init__(self, key):
        self.key = key
        self.calls = []
        self.lock = threading.Lock()
        self.delay = 0.0
        self.active = 0
        self.peak = 0
        self.seen = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with fake.lock:
                    fake.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    fake.active += 1
                    fake.peak = max(fake.peak, fake.active)
                    fake.seen[body] = fake.seen.get(body, 0) + 1
                try:
                    fake.answer(self, body)
                finally:
                    with fake.lock:
                        fake.active -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def calls_to(self, path):
        with self.lock:
            return [c for c in self.calls if c["path"] == "/v1" + path]

    def send(self, handler, status, payload, headers=()):
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def error(self, handler, status, message):
        kind, default = ERRORS[status]
        self.send(handler, status, {"error": {"message": message or default, "type": kind, "param": None, "code": None}},
                  headers=[("retry-after", "1")] if status == 429 else [])

    def answer(self, handler, body):
        auth = handler.headers.get("Authorization", "")
        if auth != f"Bearer {self.key}":
            shown = auth[len("Bearer "):]
            masked = shown[:8] + "*" * 4 + shown[-4:]
            return self.error(handler, 401, f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.")
        request = json.loads(body)
        model = request.get("model", "")
        if self.delay:
            time.sleep(self.delay)
        if model.startswith("slow-"):
            time.sleep(float(model[5:]))
        if model.startswith("flaky"):
            kind, count = model.split("-")
            with self.lock:
                seen = self.seen[body]
            if seen <= int(count):
                return self.error(handler, 429 if kind == "flaky429" else 500, None)
        if model.startswith("fail-"):
            status = int(model[5:])
            message = f"Incorrect API key provided: {self.key[:8]}****{self.key[-4:]}." if status == 401 else None
            return self.error(handler, status, message)
        if model == "stream-cut":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b'{"id": "partial", "object": ')
            handler.wfile.flush()
            handler.close_connection = True
            return
        digest = hashlib.sha256(body).hexdigest()[:12]
        path = handler.path
        if path == "/v1/chat/completions":
            payload = {
                "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": 1700000000, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {digest}"},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
            }
        elif path == "/v1/completions":
            payload = {
                "id": f"cmpl-{digest}", "object": "text_completion", "created": 1700000000, "model": model,
                "choices": [{"text": f" answer {digest}", "index": 0, "logprobs": None, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        elif path == "/v1/embeddings":
            seed = int(digest, 16)
            payload = {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [((seed >> i) % 1000) / 1000 for i in range(8)]}],
                "model": model, "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        else:
            return self.error(handler, 404, f"Unknown path {path}")
        self.send(handler, 200, payload)
