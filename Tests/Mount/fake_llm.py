"""One loopback fake that speaks the wire format of every LLM and inference
family cidcache serves: OpenAI (and the compatible groq/vllm), Anthropic
Messages, Gemini (v1beta generateContent / embedContent), Ollama's native API,
Hugging Face TGI (/generate and its OpenAI-style /v1/chat/completions), TEI
(/embed), OpenVINO Model Server (KServe v2 REST infer) and OPEA megaservices.

Each family lives under its own path prefix of the one server, so a namespace
is pointed at `fake.base(ns)`: `/anthropic/v1/messages`,
`/gemini/v1beta/models/{model}:generateContent`, `/ollama/api/chat`,
`/tgi/generate`, `/tei/embed`, `/ovms/v2/models/{m}/infer`, `/opea/v1/{route}`,
`/openai/v1/chat/completions`. Every call is recorded: its route (the path after
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

from loopback import LoopbackHTTPServer

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

# The usage each family reports, so tests can check tokens_saved exactly.
USAGE = {
    "openai": {"prompt_tokens": 9, "completion_tokens": 12},        # 21
    "anthropic": {"input_tokens": 25, "output_tokens": 15},          # 40
    "anthropic_stream": {"input_tokens": 25, "output_tokens": 15},   # message_start 25/1, last message_delta 15
    "gemini": {"promptTokenCount": 8, "candidatesTokenCount": 12},   # 20 (+ thoughtsTokenCount 30 on 2.5 models)
    "gemini_thoughts": 30,
    "ollama": {"prompt_eval_count": 26, "eval_count": 17},           # 43
    "tgi_chat": {"prompt_tokens": 11, "completion_tokens": 6},       # 17
}

ANTHROPIC_ERRORS = {
    400: ("invalid_request_error", "messages: field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: fail-404"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}

GEMINI_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

TGI_ERROR_TYPES = {400: "validation", 401: "unauthorized", 404: "not_found", 422: "validation", 424: "generation",
                   429: "overloaded", 500: "incomplete_generation", 503: "unhealthy"}
TEI_ERROR_TYPES = {401: "Unauthorized", 404: "NotFound", 413: "Validation", 422: "Tokenizer", 424: "Backend",
                   429: "Overloaded", 500: "Backend", 503: "Unhealthy"}

SWITCH = re.compile(r"(fail-\d{3}|slow-[0-9.]+|stream-slow|stream-cut|stream-noterm|stream-error|stream-stall)")


class Abort(Exception):
    """Raised by a handler to drop the connection without ending the body."""


class FakeLLM:
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

    # OpenAI (and the chat of TGI, which speaks the same API)

    def openai_error(self, out, status, message, kind="invalid_request_error", code=None):
        out.json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}},
                 headers=[("retry-after", "1")] if status == 429 else [])

    def family_openai(self, out, route, body, request):
        if out.header("authorization") != f"Bearer {self.keys['openai']}":
            return self.openai_error(out, 401, "Incorrect API key provided.", code="invalid_api_key")
        if not isinstance(request, dict):
            return self.openai_error(out, 400, "We could not parse the JSON body of your request.")
        model = request.get("model", "")
        behaviour = self.switch(model)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            kinds = {429: "rate_limit_error", 500: "server_error", 503: "server_error"}
            return self.openai_error(out, status, f"failure {status}", kind=kinds.get(status, "invalid_request_error"))
        if route != "/v1/chat/completions":
            return self.openai_error(out, 404, f"Invalid URL (POST /v1{route})")
        self.chat_completion(out, body, request, model, USAGE["openai"], space=True)

    def chat_completion(self, out, body, request, model, usage, space, fingerprint=None):
        digest = self.digest(body)
        ident = f"chatcmpl-{digest}-{out.record['n']}"
        words = ["The", " answer", " for", f" {digest}", " is", " here", "."]
        if not request.get("stream"):
            return out.json(200, {
                "id": ident, "object": "chat.completion", "created": 1700000000, "model": model,
                "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {**usage, "total_tokens": sum(usage.values())},
            })
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        prefix = b"data: " if space else b"data:"

        def chunk(delta, finish=None, choices=True, use=None):
            payload = {"id": ident, "object": "chat.completion.chunk", "created": 1700000000, "model": model,
                       "system_fingerprint": fingerprint,
                       "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
            if include_usage:
                payload["usage"] = use
            return prefix + json.dumps(payload).encode() + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": w}) for w in words]
        events.append(chunk({}, finish="stop"))
        if include_usage:
            events.append(chunk(None, choices=False, use={**usage, "total_tokens": sum(usage.values())}))
        behaviour = self.switch(model)
        self.stream(out, events, [prefix + b"[DONE]\n\n"], behaviour, "text/event-stream")

    # Anthropic Messages

    def anthropic_error(self, out, status, message=None):
        kind, default = ANTHROPIC_ERRORS[status]
        headers = [("request-id", "req_011CTestFakeRequest")]
        if status == 429:
            headers.append(("retry-after", "1"))
        out.json(status, {"type": "error", "error": {"type": kind, "message": message or default},
                          "request_id": "req_011CTestFakeRequest"}, headers=headers)

    def family_anthropic(self, out, route, body, request):
        key = out.header("x-api-key")
        if key is None:
            return self.anthropic_error(out, 401, "x-api-key header is required")
        if key != self.keys["anthropic"]:
            return self.anthropic_error(out, 401, "invalid x-api-key")
        if out.header("anthropic-version") is None:
            return self.anthropic_error(out, 400, "anthropic-version: header is required")
        if route != "/v1/messages":
            return self.anthropic_error(out, 404, "Not Found")
        if not isinstance(request, dict):
            return self.anthropic_error(out, 400, "There was an error parsing the body of your request.")
        for field in ("model", "max_tokens", "messages"):
            if field not in request:
                return self.anthropic_error(out, 400, f"{field}: Field required")
        model = request["model"]
        behaviour = self.switch(model)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            return self.anthropic_error(out, int(behaviour[5:]))
        digest = self.digest(body)
        ident = f"msg_01{digest}{out.record['n']:04d}"
        words = ["Hello", "!", " The", f" answer {digest}", " is", " here", "."]
        usage = USAGE["anthropic"]
        if not request.get("stream"):
            return out.json(200, {
                "id": ident, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "".join(words)}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": usage["input_tokens"], "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": usage["output_tokens"]},
            }, headers=[("request-id", "req_011CTestFakeRequest")])

        def event(name, payload):
            return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

        start = {"id": ident, "type": "message", "role": "assistant", "content": [], "model": model,
                 "stop_reason": None, "stop_sequence": None,
                 "usage": {"input_tokens": usage["input_tokens"], "cache_creation_input_tokens": 0,
                           "cache_read_input_tokens": 0, "output_tokens": 1}}
        events = [event("message_start", {"type": "message_start", "message": start}),
                  event("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}}),
                  event("ping", {"type": "ping"})]
        events += [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": w}}) for w in words]
        if behaviour == "stream-error":
            events = events[:4] + [event("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                               "message": "Overloaded"}})]
            return self.stream(out, events, [], "", "text/event-stream; charset=utf-8")
        events += [event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                           "usage": {"output_tokens": usage["output_tokens"]}})]
        terminal = [event("message_stop", {"type": "message_stop"})]
        self.stream(out, events, terminal, behaviour, "text/event-stream; charset=utf-8")

    # Gemini (Generative Language API v1beta)

    def gemini_error(self, out, status, message, details=None):
        error = {"code": status, "message": message, "status": GEMINI_STATUS[status]}
        if details:
            error["details"] = details
        out.json(status, {"error": error}, content_type="application/json; charset=UTF-8")

    def family_gemini(self, out, route, body, request):
        key = out.header("x-goog-api-key")
        if key is None:
            return self.gemini_error(out, 403, "Method doesn't allow unregistered callers (callers without established "
                                     "identity). Please use API Key or other form of API consumer identity to call this API.")
        if key != self.keys["gemini"]:
            return self.gemini_error(out, 400, "API key not valid. Please pass a valid API key.", details=[
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}])
        found = re.fullmatch(r"/v1beta/models/([^/:]+):(generateContent|embedContent)", route)
        if not found:
            return self.gemini_error(out, 404, f"Method not found: {route}")
        model, method = found.groups()
        if not isinstance(request, dict):
            return self.gemini_error(out, 400, "Invalid JSON payload received.")
        allowed = {"generateContent": {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                                       "generationConfig", "cachedContent"},
                   "embedContent": {"content", "taskType", "title", "outputDimensionality"}}[method]
        unknown = [name for name in request if name not in allowed]
        if unknown:
            return self.gemini_error(out, 400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": '
                                     "Cannot find field.")
        behaviour = self.switch(model)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            messages = {404: f"models/{model} is not found for API version v1beta, or is not supported for {method}. "
                             "Call ListModels to see the list of available models and their supported methods.",
                        429: "Resource has been exhausted (e.g. check quota).",
                        503: "The model is overloaded. Please try again later.",
                        500: "An internal error has occurred. Please retry or report in "
                             "https://developers.generativeai.google/guide/troubleshooting"}
            return self.gemini_error(out, status, messages.get(status, f"failure {status}"))
        digest = self.digest(body)
        if method == "embedContent":
            seed = int(digest, 16)
            return out.json(200, {"embedding": {"values": [((seed >> i) % 1000) / 1000 for i in range(8)]}},
                            content_type="application/json; charset=UTF-8")
        usage = dict(USAGE["gemini"])
        usage["totalTokenCount"] = sum(usage.values())
        if "2.5" in model:
            usage["thoughtsTokenCount"] = USAGE["gemini_thoughts"]
            usage["totalTokenCount"] += USAGE["gemini_thoughts"]
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
        out.json(200, {
            "candidates": [{"content": {"parts": [{"text": f"Answer {digest}."}], "role": "model"},
                            "finishReason": "STOP", "avgLogprobs": -0.12, "index": 0}],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": f"resp-{digest}-{out.record['n']}",
        }, content_type="application/json; charset=UTF-8")

    # Ollama

    def family_ollama(self, out, route, body, request):
        if not self.bearer_ok(out, "ollama"):
            return out.json(401, {"error": "unauthorized"})
        if route not in ("/api/chat", "/api/generate", "/api/embed"):
            return out.text(404, "404 page not found")
        if not isinstance(request, dict):
            return out.json(400, {"error": "invalid character 'x' looking for beginning of value"})
        model = request.get("model")
        if not model:
            return out.json(400, {"error": "model is required"})
        behaviour = self.switch(model)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            messages = {404: f'model "{model}" not found, try pulling it first',
                        503: "server busy, please try again.  maximum pending requests exceeded",
                        429: "too many requests", 401: "unauthorized", 400: "invalid options"}
            return out.json(status, {"error": messages.get(status, "llama runner process has terminated")})
        digest = self.digest(body)
        created = "2024-08-07T03:57:33.0365888Z"
        if route == "/api/embed":
            seed = int(digest, 16)
            return out.json(200, {"model": model, "embeddings": [[((seed >> i) % 1000) / 1000 for i in range(8)]],
                                  "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8})
        usage = USAGE["ollama"]
        words = ["The", " sky", " is", f" {digest}", "."]
        final = {"done_reason": "stop", "done": True, "total_duration": 4353619900, "load_duration": 63915300,
                 "prompt_eval_count": usage["prompt_eval_count"], "prompt_eval_duration": 246847000,
                 "eval_count": usage["eval_count"], "eval_duration": 4032296000}
        chat = route == "/api/chat"

        def piece(text):
            if chat:
                return {"model": model, "created_at": created, "message": {"role": "assistant", "content": text}}
            return {"model": model, "created_at": created, "response": text}

        if request.get("stream") is False:
            whole = {**piece("".join(words)), **final}
            if not chat:
                whole["context"] = [1, 2, 3]
            return out.json(200, whole)
        events = [json.dumps({**piece(w), "done": False}).encode() + b"\n" for w in words]
        last = {**piece(""), **final}
        if not chat:
            last["context"] = [1, 2, 3]
        self.stream(out, events, [json.dumps(last).encode() + b"\n"], behaviour, "application/x-ndjson")

    # Text Generation Inference

    def tgi_error(self, out, status, message):
        out.json(status, {"error": message, "error_type": TGI_ERROR_TYPES.get(status, "generation")})

    def family_tgi(self, out, route, body, request):
        if not self.bearer_ok(out, "tgi"):
            return out.json(401, {"error": "Authorization header is correct, but the token seems invalid"})
        if route not in ("/generate", "/v1/chat/completions"):
            return out.text(404, "")
        if not isinstance(request, dict):
            return self.tgi_error(out, 422, "Failed to deserialize the JSON body into the target type")
        if route == "/v1/chat/completions":
            model = request.get("model", "tgi")
            behaviour = self.switch(model)
            self.pace(behaviour)
            if behaviour.startswith("fail-"):
                return self.tgi_error(out, int(behaviour[5:]), f"failure {behaviour}")
            return self.chat_completion(out, body, request, model, USAGE["tgi_chat"], space=False,
                                        fingerprint="2.4.0-native")
        inputs = request.get("inputs")
        if not isinstance(inputs, str):
            return self.tgi_error(out, 422, "Failed to deserialize the JSON body into the target type: missing field `inputs`")
        parameters = request.get("parameters") or {}
        behaviour = self.switch(inputs)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            return self.tgi_error(out, int(behaviour[5:]), {
                422: "Input validation error: `inputs` must have less than 4096 tokens.",
                424: "Request failed during generation: Server error: CUDA out of memory.",
                429: "Model is overloaded"}.get(int(behaviour[5:]), f"failure {behaviour}"))
        if "temperature" in parameters and not (isinstance(parameters["temperature"], (int, float))
                                                and parameters["temperature"] > 0):
            return self.tgi_error(out, 422, "Input validation error: `temperature` must be strictly positive")
        digest = self.digest(body)
        count = int(parameters.get("max_new_tokens") or 4)
        tokens = [{"id": 100 + i, "text": f" t{i}", "logprob": -0.5, "special": False} for i in range(count)]
        answer = {"generated_text": f"Generated {digest}:" + "".join(t["text"] for t in tokens)}
        if parameters.get("details"):
            answer["details"] = {"finish_reason": "length", "generated_tokens": count, "seed": None,
                                 "prefill": [{"id": 1, "text": "<s>", "logprob": None},
                                             {"id": 15043, "text": "Hello", "logprob": -10.6}]
                                 if parameters.get("decoder_input_details") else [],
                                 "tokens": tokens}
        out.json(200, answer)

    # Text Embeddings Inference

    def family_tei(self, out, route, body, request):
        if not self.bearer_ok(out, "tei"):
            return out.json(401, {"error": "Unauthorized", "error_type": "Unauthorized"})
        if route != "/embed":
            return out.text(404, "")
        if not isinstance(request, dict) or "inputs" not in request:
            return out.json(422, {"error": "Failed to deserialize the JSON body into the target type",
                                  "error_type": "Validation"})
        inputs = request["inputs"]
        behaviour = self.switch(inputs)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            return out.json(status, {"error": f"failure {status}", "error_type": TEI_ERROR_TYPES.get(status, "Backend")})
        texts = inputs if isinstance(inputs, list) else [inputs]
        vectors = []
        for text in texts:
            seed = int(hashlib.sha256(json.dumps(text).encode()).hexdigest()[:12], 16)
            vectors.append([((seed >> i) % 1000) / 1000 for i in range(8)])
        out.json(200, vectors)

    # OpenVINO Model Server, KServe v2 REST

    def family_ovms(self, out, route, body, request):
        if not self.bearer_ok(out, "ovms"):
            return out.json(401, {"error": "Unauthorized"})
        found = re.fullmatch(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer", route)
        if not found:
            return out.json(404, {"error": "Model with requested name is not found"})
        model, version = found.groups()
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            return out.json(400, {"error": "Invalid JSON in request body"})
        behaviour = self.switch(model)
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            return out.json(status, {"error": {404: "Model with requested name is not found",
                                               400: "Invalid number of inputs - Expected: 1; Actual: 2",
                                               503: "Model with requested version is not loaded yet"}
                                     .get(status, "Internal server error")})
        data = request["inputs"][0].get("data", [])
        flat = data if data and not isinstance(data[0], list) else [x for row in data for x in row]
        answer = {"model_name": model, "model_version": version or "1",
                  "outputs": [{"name": "output", "shape": [1, len(flat)], "datatype": "FP32",
                               "data": [float(x) * 2 for x in flat]}]}
        if "id" in request:
            answer = {"id": request["id"], **answer}
        out.json(200, answer)

    # OPEA megaservices (GenAIExamples gateways)

    def family_opea(self, out, route, body, request):
        if not self.bearer_ok(out, "opea"):
            return out.json(401, {"detail": "Not authenticated"})
        found = re.fullmatch(r"/v1/([a-z][a-z0-9_-]*)", route)
        if not found:
            return out.json(404, {"detail": "Not Found"})
        if not isinstance(request, dict):
            return out.json(422, {"detail": [{"type": "json_invalid", "loc": ["body", 0],
                                              "msg": "JSON decode error", "input": {}}]})
        behaviour = self.switch(request.get("messages"), request.get("model"))
        self.pace(behaviour)
        if behaviour.startswith("fail-"):
            status = int(behaviour[5:])
            return out.json(status, {"detail": f"failure {status}"})
        digest = self.digest(body)
        words = ["OPEA", " is", " an", f" answer {digest}", "."]
        if request.get("stream") is False:
            return out.json(200, {
                "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": 1700000000, "model": found.group(1),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                             "finish_reason": "stop", "metadata": None}],
                "usage": {"prompt_tokens": 0, "total_tokens": 0, "completion_tokens": 0}})
        events = [f"data: b'{w}'\n\n".encode() for w in words]
        self.stream(out, events, [b"data: [DONE]\n\n"], behaviour, "text/event-stream")


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
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

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
