"""A small OpenAI-compatible HTTP server around the local generator (`python -m rag serve`).

It speaks the subset of the protocol that clients such as instructor/RAGAS use: `GET /v1/models` and
`POST /v1/chat/completions` (not streamed) with plain answers, `response_format` JSON object or JSON schema,
or a forced function call (`tools` + `tool_choice`). JSON replies are generated under the schema
(rag/constrained.py), so they always parse unless cut by `max_tokens`. One request is served at a time.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rag.generator import Messages, TransformersGenerator

DEFAULT_MAX_TOKENS = 512


def _text(content: Any) -> str:
    """Message content as text (a string, or a list of parts of which the text ones are kept)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def chat_messages(raw: list[dict[str, Any]]) -> Messages:
    messages: Messages = []
    for message in raw:
        role = message.get("role", "user")
        role = role if role in ("system", "user", "assistant") else "user"  # tool results read as user text
        messages.append({"role": role, "content": _text(message.get("content"))})
    return messages


def forced_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    """The function the client requires to be called, if any."""
    tools = [t["function"] for t in request.get("tools") or [] if t.get("type") == "function"]
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        return next((t for t in tools if t.get("name") == name), None)
    if choice == "required" or (choice in (None, "auto") and len(tools) == 1):
        return tools[0] if tools else None
    return None


def schema_in_prompt(messages: Messages) -> dict[str, Any] | None:
    """The JSON schema a JSON-mode client (instructor, as RAGAS uses it) writes into its system message."""
    for message in messages:
        content = message["content"]
        marker = content.find("json_schema:")
        start = content.find("{", marker) if marker >= 0 else -1
        if start >= 0:
            try:
                schema, _ = json.JSONDecoder().raw_decode(content[start:])
            except ValueError:
                continue
            if isinstance(schema, dict):
                return schema
    return None


def response_schema(request: dict[str, Any], messages: Messages) -> dict[str, Any] | None:
    """The schema the reply must follow: given in `response_format`, or for JSON mode found in the prompt."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return dict(response_format.get("json_schema", {}).get("schema") or {"type": "object"})
    if response_format.get("type") == "json_object":
        return schema_in_prompt(messages) or {"type": "object"}
    return None


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties, so constrained
    decoding cannot invent keys (pydantic's schemas leave extra keys allowed)."""
    if isinstance(schema, dict):
        tightened = {key: strict(value) for key, value in schema.items()}
        if "properties" in tightened and "additionalProperties" not in tightened:
            tightened["additionalProperties"] = False
        return tightened
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def complete(generator: TransformersGenerator, request: dict[str, Any]) -> dict[str, Any]:
    """One chat completion response object for a request object."""
    messages = chat_messages(request.get("messages") or [])
    max_tokens = int(request.get("max_completion_tokens") or request.get("max_tokens") or DEFAULT_MAX_TOKENS)
    tool = forced_tool(request)
    schema = tool.get("parameters", {"type": "object"}) if tool else response_schema(request, messages)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if schema is not None:
        text = generator.complete_json(messages, strict(schema), max_new_tokens=max_tokens)
    else:
        temperature = float(request.get("temperature") or 0.0)
        top_p = float(request.get("top_p") or 1.0)
        text = "".join(generator.stream(messages, max_new_tokens=max_tokens, temperature=temperature, top_p=top_p))
    if tool:
        call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
        message["tool_calls"] = [call | {"function": {"name": tool["name"], "arguments": text}}]
    else:
        message["content"] = text
    prompt_tokens = generator.count_tokens(messages)
    completion_tokens = len(generator.tokenizer.encode(text, add_special_tokens=False))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or model_id(generator),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def model_id(generator: TransformersGenerator) -> str:
    """The model's name without the local folder it was loaded from."""
    return Path(generator.name).name


def make_server(generator: TransformersGenerator, host: str, port: int) -> ThreadingHTTPServer:
    lock = threading.Lock()  # one generation at a time: the model is not shared between requests

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": model_id(generator), "object": "model"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}")
                return
            try:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            except ValueError:
                self._error(400, "the body is not JSON")
                return
            if request.get("stream"):
                self._error(400, "streaming is not supported by this server")
                return
            with lock:
                self._send(200, complete(generator, request))

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
            return

    return ThreadingHTTPServer((host, port), Handler)
