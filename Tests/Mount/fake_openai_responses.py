"""OpenAI's Responses API (`POST /v1/responses`) as fake_openai.FakeOpenAI
answers it, in its wire format: a `response` object (output messages of
`output_text` parts, `usage` with `input_tokens`/`output_tokens`), or on
`"stream": true` named server-sent events (`event: <type>` and `data:` with the
same `type`, each with its `sequence_number`): `response.created`,
`response.in_progress`, the output item and content part added,
`response.output_text.delta` pieces, their `.done` events, and last
`response.completed` carrying the whole response. No `data: [DONE]`.

Switches, by model: `stream-failed` ends the stream with `response.failed` (a
server error), `stream-error` with an `error` event, `stream-incomplete` with
`response.incomplete` (max_output_tokens), `stream-cut` drops the connection
after three events."""
import json

USAGE = {"input_tokens": 9, "output_tokens": 12}   # 21
ENDINGS = {"stream-failed": "response.failed", "stream-error": "error", "stream-incomplete": "response.incomplete"}


def response(request, digest, status="completed", output=True):
    """The response object, as `POST /v1/responses` answers and `response.completed` carries it."""
    message = {"id": f"msg_{digest}", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": f"answer {digest}", "annotations": [], "logprobs": []}]}
    return {
        "id": f"resp_{digest}", "object": "response", "created_at": 1700000000, "status": status,
        "background": False, "error": None, "incomplete_details": None, "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"), "model": request.get("model"),
        "output": [message] if output else [], "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "service_tier": "default", "store": True,
        "temperature": request.get("temperature", 1.0), "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "truncation": "disabled",
        "usage": {"input_tokens": USAGE["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": USAGE["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": sum(USAGE.values())} if output else None,
        "user": None, "metadata": {},
    }


def events(request, digest):
    """The stream's events, each (type, payload), shaped by the model's switch."""
    model = str(request.get("model", ""))
    started = response(request, digest, status="in_progress", output=False)
    item = {"id": f"msg_{digest}", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    at = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    listed = [("response.created", {"response": started}), ("response.in_progress", {"response": started}),
              ("response.output_item.added", {"output_index": 0, "item": item}),
              ("response.content_part.added", {**at, "part": part})]
    listed += [("response.output_text.delta", {**at, "delta": piece, "logprobs": []}) for piece in ("answer", " ", digest)]
    whole = response(request, digest)
    text = whole["output"][0]["content"][0]
    listed += [("response.output_text.done", {**at, "text": text["text"], "logprobs": []}),
               ("response.content_part.done", {**at, "part": text}),
               ("response.output_item.done", {"output_index": 0, "item": whole["output"][0]})]
    ending = ENDINGS.get(model)
    if ending == "error":
        listed.append(("error", {"code": "server_error", "message": "The server had an error.", "param": None}))
    elif ending:
        status = "failed" if ending == "response.failed" else "incomplete"
        last = response(request, digest, status=status)
        if status == "failed":
            last["error"] = {"code": "server_error", "message": "The server had an error while processing your request."}
        else:
            last["incomplete_details"] = {"reason": "max_output_tokens"}
        listed.append((ending, {"response": last}))
    else:
        listed.append(("response.completed", {"response": whole}))
    return [(kind, {"type": kind, "sequence_number": n, **payload}) for n, (kind, payload) in enumerate(listed)]


def frames(request, digest):
    """The stream's bytes, frame by frame: `event:` and `data:` lines, a blank line after each."""
    return [f"event: {kind}\ndata: ".encode() + json.dumps(payload).encode() + b"\n\n"
            for kind, payload in events(request, digest)]
