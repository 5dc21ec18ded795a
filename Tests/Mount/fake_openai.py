"""A loopback fake of OpenAI's REST API (chat completions, completions,
embeddings, and the Responses API as fake_openai_responses.py words it) in its
wire format, with switches for failures.

Answers derive from a digest of the request's bytes (`answer <12 hex
digits>`), so equal requests get equal bodies and different ones differ;
but a chat completion at a sampled temperature (absent, null, not a number
or not 0: the TTL rule's) is a new sample at each call: the first call of a
body keeps its digest, the n-th gets the digest of the body and n. Shapes follow OpenAI's: `chat.completion`, `text_completion`, the
embeddings `list` (float arrays, or base64 float32 with
`"encoding_format": "base64"`), `usage` with prompt/completion/total tokens;
`"stream": true` answers server-sent events (`chat.completion.chunk` or
`text_completion` chunks, a usage chunk when `stream_options.include_usage`,
then `data: [DONE]`), sent with chunked transfer encoding. Errors carry
OpenAI's body `{"error": {"message", "type", "param", "code"}}`; a missing or
wrong bearer gets 401 with the key echoed masked ("Incorrect API key
provided: sk-test-***************0001"), as OpenAI does.

The request's `model` picks the behaviour: `fail-400`, `fail-401`,
`fail-404`, `fail-429` (with `retry-after: 1`), `fail-500` answer that status;
`slow-<seconds>` waits before answering; `stream-cut` drops the connection
part-way through the body (or the event stream); `stream-nodone` ends an event
stream cleanly but without `data: [DONE]`; `flaky-<n>` fails the first n calls
of one body with 500 (`flaky429-<n>`: 429 with retry-after: 1); `changes`
answers each call of one body anew (its n-th call's own digest). `delay`
(seconds) delays every answer. `GET /v1/models` lists two models (an
uncached route: the HTTP front passes it through). Every call is recorded (path, headers, raw
body, monotonic time); `peak` is the most calls in progress at once (a call
stops counting when its answer starts going out).
"""
import base64
import hashlib
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler

import fake_openai_responses
from loopback import LoopbackHTTPServer

ORG = "org-fakefakefakefake"
ERRORS = {
    400: ("invalid_request_error", "invalid_value", "model",
          "Invalid value for 'model': this fake refuses the request on purpose."),
    401: ("invalid_request_error", "invalid_api_key", None, None),
    404: ("invalid_request_error", "model_not_found", None,
          "The model `{model}` does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", None,
          "Rate limit reached for {model} in organization " + ORG + " on requests per min (RPM): "
          "Limit 3, Used 3, Requested 1. Please try again in 1s."),
    500: ("server_error", None, None, "The server had an error while processing your request. Sorry about that!"),
}
NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
          "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


def masked(key):
    """How OpenAI echoes a key it refused: the first 8 and last 4 characters."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def digest_of(body):
    return hashlib.sha256(body).hexdigest()[:12]


def sampled(request):
    temperature = request.get("temperature")
    return not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 0)


class FakeOpenAI:
    def __init__(self, key):
        self.key = key
        self.calls = []
        self.lock = threading.Lock()
        self.delay = 0.0
        self.active = 0
        self.peak = 0
        self.abandoned = 0
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
                    fake.calls.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "time": time.monotonic()})
                    fake.active += 1
                    fake.peak = max(fake.peak, fake.active)
                    fake.seen[body] = fake.seen.get(body, 0) + 1
                    self.call_number = fake.seen[body]
                self.released = False
                try:
                    fake.answer(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    # The caller gave up (a timeout, a killed daemon): that is its right.
                    self.close_connection = True
                    with fake.lock:
                        fake.abandoned += 1
                finally:
                    fake.release(self)

            def do_GET(self):
                if self.path != "/v1/models":
                    return fake.error(self, 404, f"Invalid URL (GET {self.path})")
                with fake.lock:
                    fake.calls.append({"path": self.path, "headers": dict(self.headers), "body": b"",
                                       "time": time.monotonic()})
                if self.headers.get("Authorization") != f"Bearer {fake.key}":
                    return fake.error(self, 401, NO_KEY)
                fake.send(self, 200, {"object": "list", "data": [
                    {"id": model, "object": "model", "created": 1700000000, "owned_by": "system"}
                    for model in ("gpt-4o-mini", "text-embedding-3-small")]})

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # What the tests look at.

    def calls_to(self, path):
        with self.lock:
            return [c for c in self.calls if c["path"] == "/v1" + path]

    def bodies(self, path):
        return [c["body"] for c in self.calls_to(path)]

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.seen.clear()
            self.peak = self.active

    # Sending.

    def release(self, handler):
        with self.lock:
            if not getattr(handler, "released", True):
                handler.released = True
                self.active -= 1

    def headers(self, handler):
        return [("x-request-id", "req_" + digest_of(repr(time.monotonic()).encode())),
                ("openai-organization", ORG), ("openai-processing-ms", "7"), ("openai-version", "2020-10-01"),
                ("x-ratelimit-limit-requests", "500"), ("x-ratelimit-remaining-requests", "499")]

    def send(self, handler, status, payload, headers=()):
        data = json.dumps(payload).encode()
        self.release(handler)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in [*self.headers(handler), *headers]:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def error(self, handler, status, message, model=""):
        kind, code, param, default = ERRORS[status]
        body = {"error": {"message": message or default.format(model=model), "type": kind, "param": param,
                          "code": code}}
        self.send(handler, status, body, headers=[("retry-after", "1")] if status == 429 else [])

    def send_events(self, handler, events, done=True, cut=False):
        """An event stream of `data:` events, `data: [DONE]` last unless not `done`."""
        frames = [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events]
        if done:
            frames.append(b"data: [DONE]\n\n")
        self.send_stream(handler, frames, cut)

    def send_stream(self, handler, frames, cut=False):
        """An event stream with chunked transfer encoding, as OpenAI sends one, a frame a chunk;
        `cut` drops the connection after two."""
        self.release(handler)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        for name, value in self.headers(handler):
            handler.send_header(name, value)
        handler.end_headers()
        if cut:
            frames = frames[:2]
        for frame in frames:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            handler.wfile.flush()
        if cut:
            handler.close_connection = True
            return
        handler.wfile.write(b"0\r\n\r\n")

    # Answering.

    def answer(self, handler, body):
        auth = handler.headers.get("Authorization")
        if not auth:
            return self.error(handler, 401, NO_KEY)
        if auth != f"Bearer {self.key}":
            shown = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
            return self.error(handler, 401, f"Incorrect API key provided: {masked(shown)}. "
                                            "You can find your API key at https://platform.openai.com/account/api-keys.")
        try:
            request = json.loads(body)
            assert isinstance(request, dict)
        except (ValueError, AssertionError):
            return self.error(handler, 400, "We could not parse the JSON body of your request.")
        model = str(request.get("model", ""))
        if self.delay:
            time.sleep(self.delay)
        if model.startswith("slow-"):
            time.sleep(float(model[5:]))
        if model.startswith("flaky"):
            kind, count = model.split("-")
            with self.lock:
                seen = self.seen[body]
            if seen <= int(count):
                return self.error(handler, 429 if kind == "flaky429" else 500, None, model)
        if model.startswith("fail-"):
            status = int(model[5:])
            if status == 401:
                shown = masked(auth[len("Bearer "):])
                return self.error(handler, 401, f"Incorrect API key provided: {shown}. "
                                                "You can find your API key at https://platform.openai.com/account/api-keys.")
            return self.error(handler, status, None, model)
        digest = digest_of(body)
        if model == "changes" or (handler.path == "/v1/chat/completions" and sampled(request)
                                  and handler.call_number > 1):
            digest = digest_of(body + b"#%d" % handler.call_number)
        streamed = request.get("stream") is True
        if model == "stream-cut" and not streamed:
            self.release(handler)
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b'{"id": "partial", "object": ')
            handler.wfile.flush()
            handler.close_connection = True
            return
        path = handler.path
        if path == "/v1/chat/completions":
            if streamed:
                return self.send_events(handler, self.chat_chunks(request, digest),
                                        done=model != "stream-nodone", cut=model == "stream-cut")
            return self.send(handler, 200, self.chat(request, digest))
        if path == "/v1/completions":
            if streamed:
                return self.send_events(handler, self.completion_chunks(request, digest),
                                        done=model != "stream-nodone", cut=model == "stream-cut")
            return self.send(handler, 200, self.completion(request, digest))
        if path == "/v1/responses":
            if streamed:
                return self.send_stream(handler, fake_openai_responses.frames(request, digest), cut=model == "stream-cut")
            return self.send(handler, 200, fake_openai_responses.response(request, digest))
        if path == "/v1/embeddings":
            return self.send(handler, 200, self.embeddings(request, digest))
        return self.error(handler, 404, f"Invalid URL (POST {path})")

    @staticmethod
    def chat(request, digest):
        return {
            "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": 1700000000,
            "model": request.get("model"),
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": f"answer {digest}", "refusal": None,
                                     "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_fake0001",
        }

    @staticmethod
    def chat_chunks(request, digest):
        usage = (request.get("stream_options") or {}).get("include_usage") is True

        def chunk(choices, **extra):
            event = {"id": f"chatcmpl-{digest}", "object": "chat.completion.chunk", "created": 1700000000,
                     "model": request.get("model"), "service_tier": "default",
                     "system_fingerprint": "fp_fake0001", "choices": choices, **extra}
            if usage and "usage" not in extra:
                event["usage"] = None
            return event

        events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                          "logprobs": None, "finish_reason": None}])]
        for piece in ("answer", " ", digest):
            events.append(chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}]))
        events.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
        if usage:
            events.append(chunk([], usage={"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}))
        return events

    @staticmethod
    def completion(request, digest):
        return {
            "id": f"cmpl-{digest}", "object": "text_completion", "created": 1700000000,
            "model": request.get("model"),
            "choices": [{"text": f" answer {digest}", "index": 0, "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }

    @staticmethod
    def completion_chunks(request, digest):
        usage = (request.get("stream_options") or {}).get("include_usage") is True

        def chunk(choices, **extra):
            event = {"id": f"cmpl-{digest}", "object": "text_completion", "created": 1700000000,
                     "model": request.get("model"), "choices": choices, **extra}
            if usage and "usage" not in extra:
                event["usage"] = None
            return event

        events = [chunk([{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}])
                  for piece in (" answer", " ", digest)]
        events.append(chunk([{"text": "", "index": 0, "logprobs": None, "finish_reason": "length"}]))
        if usage:
            events.append(chunk([], usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}))
        return events

    @staticmethod
    def embeddings(request, digest):
        inputs = request.get("input")
        inputs = inputs if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else [inputs]
        data = []
        for index, item in enumerate(inputs):
            seed = int(hashlib.sha256(digest.encode() + json.dumps(item).encode()).hexdigest()[:16], 16)
            vector = [((seed >> (4 * i)) % 1000) / 1000 - 0.5 for i in range(int(request.get("dimensions", 8)))]
            if request.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = 4 * len(inputs)
        return {"object": "list", "data": data, "model": request.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
