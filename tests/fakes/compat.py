"""Quirks of OpenAI-compatible servers (providers.md section 6): their streams are openai_stream() with
options (`usage=None`, `role_chunk=False`, `whole_tool_calls=True`, comments via `Reply.with_inserted`);
these are the bodies that differ from OpenAI's."""

from __future__ import annotations

from typing import Any

from tests.fakes.server import Reply, json_reply
from tests.fakes.sse import data_event, retry_headers

OPENROUTER_PROCESSING = b": OPENROUTER PROCESSING\n\n"


def openrouter_error(
    code: int,
    message: str,
    *,
    status: int | None = None,
    metadata: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> Reply:
    """An OpenRouter error body with an integer `code`; the HTTP status defaults to that code."""
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return json_reply(code if status is None else status, {"error": error}, retry_headers(retry_after, None))


def openrouter_stream_error(code: int, message: str) -> bytes:
    """The SSE event OpenRouter sends for an error after the 200: an error object plus a choice with
    `finish_reason: "error"`; put it into a stream with `Reply.with_inserted`."""
    return data_event(
        {
            "id": "gen-fake0001",
            "object": "chat.completion.chunk",
            "created": 1741569952,
            "model": "openrouter/fake",
            "provider": "FakeProvider",
            "error": {"code": code, "message": message},
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                }
            ],
        }
    )


def vllm_error(status: int, message: str, type: str = "BadRequestError") -> Reply:
    """A vLLM error: OpenAI-like, but `code` is the integer HTTP status."""
    return json_reply(status, {"error": {"message": message, "type": type, "param": None, "code": status}})


def vllm_unauthorized() -> Reply:
    """vLLM's `--api-key` middleware answer to a wrong key: `{"error": "Unauthorized"}`."""
    return json_reply(401, {"error": "Unauthorized"})


def together_models(ids: list[str]) -> Reply:
    """Together AI's `GET /v1/models`: a top-level JSON array."""
    return json_reply(
        200,
        [{"id": i, "object": "model", "created": 1741569952, "type": "chat", "display_name": i} for i in ids],
    )
