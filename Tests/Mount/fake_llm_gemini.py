"""Gemini's Generative Language API (v1beta) as fake_llm.FakeLLM answers it:
`generateContent`, `streamGenerateContent?alt=sse` (server-sent events, each a
chunk of the answer with the usage so far, `\\r\\n\\r\\n` between them; the last
one carries the `finishReason`) and `embedContent`, with Google's key checks
and error bodies. A mixin of fake_llm_families.FamilyHandlers."""
import json
import re

# The usage Gemini reports, so tests can check tokens_saved exactly.
USAGE = {
    "gemini": {"promptTokenCount": 8, "candidatesTokenCount": 12},   # 20 (+ thoughtsTokenCount 30 on 2.5 models)
    "gemini_thoughts": 30,
}

GEMINI_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


class GeminiHandlers:
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
        found = re.fullmatch(r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|embedContent)", route)
        if not found:
            return self.gemini_error(out, 404, f"Method not found: {route}")
        model, method = found.groups()
        if method == "streamGenerateContent" and not out.record["path"].endswith("?alt=sse"):
            return self.gemini_error(out, 400, "This fake streams server-sent events only (?alt=sse).")
        if not isinstance(request, dict):
            return self.gemini_error(out, 400, "Invalid JSON payload received.")
        generate = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                    "generationConfig", "cachedContent"}
        allowed = {"generateContent": generate, "streamGenerateContent": generate,
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
        answer = {"candidates": [{"content": {"parts": [{"text": f"Answer {digest}."}], "role": "model"},
                                  "finishReason": "STOP", "avgLogprobs": -0.12, "index": 0}],
                  "usageMetadata": usage, "modelVersion": model, "responseId": f"resp-{digest}-{out.record['n']}"}
        if method == "streamGenerateContent":
            return self.gemini_stream(out, answer, behaviour)
        out.json(200, answer, content_type="application/json; charset=UTF-8")

    def gemini_stream(self, out, answer, behaviour):
        """The answer in pieces, each a chunk of its own: the text split in
        four, the usage so far on each, the `finishReason`, the whole
        usage and `avgLogprobs` on the last only (as Google sends them)."""
        text = answer["candidates"][0]["content"]["parts"][0]["text"]
        pieces = [text[:7], text[7:13], text[13:-1], text[-1:]]
        prompt = {"promptTokenCount": answer["usageMetadata"]["promptTokenCount"],
                  "totalTokenCount": answer["usageMetadata"]["promptTokenCount"]}
        chunks = []
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                candidate.update(finishReason="STOP", avgLogprobs=-0.12)
            chunks.append({"candidates": [candidate], "usageMetadata": answer["usageMetadata"] if last else prompt,
                           "modelVersion": answer["modelVersion"], "responseId": answer["responseId"]})
        frames = [b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n" for chunk in chunks]
        # A cut or unterminated stream keeps the first three: the last, with its finishReason, never comes.
        self.stream(out, frames[:-1], frames[-1:], behaviour, "text/event-stream")
