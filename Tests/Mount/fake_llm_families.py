"""The family handlers of fake_llm.FakeLLM, one `family_<name>` method per
family (the wire formats fake_llm's docstring lists), with each family's usage
and error tables. A mixin: it answers through FakeLLM's `stream`, `switch`,
`pace`, `bearer_ok` and `digest`. Gemini's is in fake_llm_gemini.py."""
import hashlib
import json
import re

from fake_llm_gemini import USAGE as GEMINI_USAGE
from fake_llm_gemini import GeminiHandlers

# The usage each family reports, so tests can check tokens_saved exactly.
USAGE = {
    "openai": {"prompt_tokens": 9, "completion_tokens": 12},        # 21
    "anthropic": {"input_tokens": 25, "output_tokens": 15},          # 40
    "anthropic_stream": {"input_tokens": 25, "output_tokens": 15},   # message_start 25/1, last message_delta 15
    **GEMINI_USAGE,
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

TGI_ERROR_TYPES = {400: "validation", 401: "unauthorized", 404: "not_found", 422: "validation", 424: "generation",
                   429: "overloaded", 500: "incomplete_generation", 503: "unhealthy"}
TEI_ERROR_TYPES = {401: "Unauthorized", 404: "NotFound", 413: "Validation", 422: "Tokenizer", 424: "Backend",
                   429: "Overloaded", 500: "Backend", 503: "Unhealthy"}


class FamilyHandlers(GeminiHandlers):
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
