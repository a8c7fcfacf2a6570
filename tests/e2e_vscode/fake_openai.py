"""A loopback fake of an OpenAI-compatible API for the VS Code end-to-end test (stdlib only).

- `GET /v1/models` lists `fake-model` and `fake-other` (401 without `Authorization: Bearer <key>` when a key
  is expected).
- `POST /v1/chat/completions` streams OpenAI SSE `data:` chunks, a usage-only chunk and `data: [DONE]`.
  An inline-edit request (its prompt contains a selected `def add(`) gets REPLACEMENT back; a chat gets
  CHAT_ANSWER (or, when the last user message asks for a "code block", APPLY_ANSWER with a fenced block; for
  "markdown", MARKDOWN_ANSWER: a heading, a list, a code block and a remote image that must not load), split into several chunks with short pauses so the stream is visibly incremental. A prompt
  containing "slow" streams for up to a minute so the client's Stop can be tested; the server records whether
  the client closed that connection early.

Run standalone: `python fake_openai.py [--key KEY]` prints the base URL and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
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


class FakeOpenAI:
    def __init__(self, key: str | None = None) -> None:
        self.key = key
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
                fake.requests.append({"method": "POST", "path": self.path, "json": payload})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if not self._authorized():
                    return
                messages = payload.get("messages", [])
                prompt = "\n".join(str(m.get("content", "")) for m in messages)
                asked = next(
                    (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
                )
                slow = "slow" in asked.lower()
                if "def add(" in prompt:
                    pieces, pause = [REPLACEMENT], 0.0
                elif "markdown" in asked:
                    pieces, pause = (
                        [MARKDOWN_ANSWER[i : i + 16] for i in range(0, len(MARKDOWN_ANSWER), 16)],
                        0.02,
                    )
                elif "code block" in asked:
                    pieces, pause = [APPLY_ANSWER[i : i + 16] for i in range(0, len(APPLY_ANSWER), 16)], 0.02
                elif slow:
                    pieces, pause = [f"tick {i} " for i in range(600)], 0.1
                else:
                    pieces, pause = [CHAT_ANSWER[i : i + 12] for i in range(0, len(CHAT_ANSWER), 12)], 0.05
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                model = payload.get("model", "fake-model")
                try:
                    self._event(
                        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}, model
                    )
                    for piece in pieces:
                        self._event({"choices": [{"index": 0, "delta": {"content": piece}}]}, model)
                        time.sleep(pause)
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, model)
                    self._event(
                        {
                            "choices": [],
                            "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
                        },
                        model,
                    )
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    if slow:
                        fake.aborted.set()
                self.close_connection = True

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
