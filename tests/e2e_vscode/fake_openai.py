"""A loopback fake of an OpenAI-compatible API for the VS Code end-to-end tests (stdlib only).

- `GET /v1/models` lists `fake-model` and `fake-other` (401 without `Authorization: Bearer <key>` when a key
  is expected).
- `POST /v1/chat/completions` streams OpenAI SSE `data:` chunks, a usage chunk and `data: [DONE]`. What it
  answers is scripted: the first `Script` in SCRIPTS whose `match` takes the request gives the `Reply` (its
  text in chunks with short pauses so the stream is visibly incremental, optional reasoning, cached prompt
  tokens, a 429 before the answer, tool calls after it). A test file adds its own scripts with `FakeOpenAI(scripts=[...])`;
  they are tried before the shared ones:
  - an inline-edit request (its prompt contains a selected `def add(`) gets REPLACEMENT back;
  - a chat whose last user message asks for "markdown" gets MARKDOWN_ANSWER (a heading, a list, a code
    block and a remote image that must not load); for a "code block", APPLY_ANSWER;
  - "slow" streams for up to a minute so the client's Stop can be tested; the fake records whether the
    client closed that connection early (`aborted`; any request's record gets `"aborted": True` when the
    client closed its stream before the end);
  - anything else gets CHAT_ANSWER.

Run standalone: `python fake_openai.py [--key KEY]` prints the base URL and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLACEMENT = '''def add_numbers(a: int, b: int) -> int:
    """Return the sum of a and b."""
    return a + b
'''
CHAT_ANSWER = "Hello from the fake model! The answer streams in several chunks."
MARKDOWN_ANSWER = (
    "# Plan\n\nTwo steps:\n\n- read the file\n- **change** it\n\n"
    '```python\nprint("<b>not html</b>")\n```\n\n<img src="https://example.invalid/x.png" onerror="alert(1)">\n'
)
APPLY_ANSWER = 'Here is the change:\n```python\ndef unrelated():\n    return "kept and applied"\n```\n'

MODELS = ["fake-model", "fake-other"]


@dataclass(frozen=True)
class Request:
    """What a script matches on: the whole prompt, the last user message, the model asked for."""

    prompt: str
    asked: str
    model: str
    payload: dict[str, Any]


@dataclass
class Reply:
    """A scripted answer: `text` streamed in `chunk`-character pieces `pause` seconds apart, after
    `reasoning` (as `reasoning_content` deltas); `cached_tokens` of the prompt reported as cache reads;
    `rate_limited` requests answered 429 (retry-after 1 s) before it is given; `tool_calls` (name, arguments)
    end the answer with those calls (finish reason `tool_calls`)."""

    text: str
    chunk: int = 16
    pause: float = 0.02
    reasoning: str = ""
    cached_tokens: int = 0
    rate_limited: int = 0
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()

    def pieces(self) -> list[str]:
        return [self.text[i : i + self.chunk] for i in range(0, len(self.text), self.chunk)] or [""]


@dataclass
class Script:
    """`reply` answers every request `match` takes (a function of the request: an answer built from it, such as
    one quoting a tool's result)."""

    match: Callable[[Request], bool]
    reply: Reply | Callable[[Request], Reply]

    def answer(self, request: Request) -> Reply:
        return self.reply if isinstance(self.reply, Reply) else self.reply(request)


def _slow(request: Request) -> bool:
    return "slow" in request.asked.lower()


SCRIPTS: list[Script] = [
    Script(lambda r: "def add(" in r.prompt, Reply(REPLACEMENT, chunk=len(REPLACEMENT), pause=0.0)),
    Script(lambda r: "markdown" in r.asked, Reply(MARKDOWN_ANSWER)),
    Script(lambda r: "code block" in r.asked, Reply(APPLY_ANSWER)),
    Script(_slow, Reply("".join(f"tick {i} " for i in range(600)), chunk=7, pause=0.1)),
    Script(lambda r: True, Reply(CHAT_ANSWER, chunk=12, pause=0.05)),
]


class FakeOpenAI:
    def __init__(self, key: str | None = None, scripts: Sequence[Script] = ()) -> None:
        self.key = key
        self.scripts = [*scripts, *SCRIPTS]
        self.served: dict[int, int] = {}  # requests each script answered, by its index in self.scripts
        self.requests: list[dict[str, Any]] = []
        self.aborted = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _authorized(self) -> bool:
                if fake.key is None or self.headers.get("Authorization") == f"Bearer {fake.key}":
                    return True
                body = json.dumps(
                    {
                        "error": {
                            "message": "Incorrect API key provided",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    }
                ).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return False

            def do_GET(self) -> None:
                fake.requests.append({"method": "GET", "path": self.path})
                if self.path.rstrip("/") != "/v1/models":
                    self.send_error(404)
                    return
                if not self._authorized():
                    return
                body = json.dumps(
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in MODELS
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                record: dict[str, Any] = {"method": "POST", "path": self.path, "json": payload}
                fake.requests.append(record)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if not self._authorized():
                    return
                messages = payload.get("messages", [])
                request = Request(
                    prompt="\n".join(str(m.get("content", "")) for m in messages),
                    asked=next(
                        (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
                    ),
                    model=str(payload.get("model", "fake-model")),
                    payload=payload,
                )
                index = next(i for i, s in enumerate(fake.scripts) if s.match(request))
                reply = fake.scripts[index].answer(request)
                fake.served[index] = fake.served.get(index, 0) + 1
                if fake.served[index] <= reply.rate_limited:
                    self._rate_limited()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                model = request.model
                try:
                    self._event(
                        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}, model
                    )
                    for thought in reply.reasoning.split(" ") if reply.reasoning else []:
                        delta = {"reasoning_content": thought + " "}
                        self._event({"choices": [{"index": 0, "delta": delta}]}, model)
                        time.sleep(reply.pause)
                    for piece in reply.pieces():
                        self._event({"choices": [{"index": 0, "delta": {"content": piece}}]}, model)
                        time.sleep(reply.pause)
                    calls = [
                        {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }
                        for i, (name, arguments) in enumerate(reply.tool_calls)
                    ]
                    if calls:
                        self._event({"choices": [{"index": 0, "delta": {"tool_calls": calls}}]}, model)
                    finish = "tool_calls" if calls else "stop"
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}, model)
                    usage: dict[str, Any] = {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59}
                    if reply.cached_tokens:
                        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
                    self._event({"choices": [], "usage": usage}, model)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    record["aborted"] = True
                    if _slow(request):
                        fake.aborted.set()
                self.close_connection = True

            def _rate_limited(self) -> None:
                body = json.dumps(
                    {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
                ).encode()
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _event(self, obj: dict[str, Any], model: str) -> None:
                chunk = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    **obj,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        return Handler


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--key")
    args = parser.parse_args()
    with FakeOpenAI(args.key) as fake:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
