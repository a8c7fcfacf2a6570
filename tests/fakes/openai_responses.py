"""OpenAI's Responses API event stream (`POST /v1/responses`, `stream: true`), as the API sends it.

Named SSE events whose `data.type` repeats the name, each with a rising `sequence_number`: `response.created`,
`response.in_progress`, then per output item `response.output_item.added`, its parts and deltas, and
`response.output_item.done` with the whole item; it ends with `response.completed`, `response.incomplete` or
`response.failed` carrying the whole response (its `usage`), or an `error` event. Shapes follow the openai SDK's
`ResponseStreamEvent` types (openai 3.60), which a test parses this stream with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai import OPENAI_HEADERS
from tests.fakes.server import Item, Reply
from tests.fakes.sse import fragments, named_event, stream_reply

RESPONSE_ID = "resp_fake0001"
CREATED = 1764806400


@dataclass(frozen=True)
class Reasoning:
    """A `reasoning` output item: summary parts (each streamed in pieces) and its opaque encrypted content."""

    id: str
    summary: list[str] = field(default_factory=list)
    encrypted_content: str | None = "gAAAAAB-FAKE-encrypted-reasoning"


@dataclass(frozen=True)
class Text:
    """A `message` output item whose text arrives in these pieces."""

    pieces: list[str]
    id: str = "msg_fake0001"


@dataclass(frozen=True)
class Call:
    """A `function_call` output item; its arguments stream in `parts` pieces."""

    call_id: str
    name: str
    arguments: str | dict[str, Any]
    id: str = ""
    parts: int = 3

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


OutputItem = Reasoning | Text | Call


def usage_object(
    usage: tuple[int, int], *, cached: int = 0, cache_write: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    """A Responses `usage` object: input counts cached tokens, output counts reasoning tokens."""
    input_tokens, output_tokens = usage
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": cache_write},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def _response(model: str, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": False,
        "error": None,
        "incomplete_details": None,
        "usage": None,
        **extra,
    }


class _Writer:
    """Numbers events and keeps the finished output items for the terminal event."""

    def __init__(self) -> None:
        self.events: list[Item] = []
        self.output: list[dict[str, Any]] = []
        self.sequence = 0

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append(named_event(kind, {"type": kind, "sequence_number": self.sequence, **data}))
        self.sequence += 1

    def item(self, index: int, item: OutputItem, error_after: int | None) -> bool:
        """Stream one output item; False when an error cut it (after `error_after` text pieces)."""
        if isinstance(item, Reasoning):
            return self._reasoning(index, item)
        if isinstance(item, Call):
            return self._call(index, item)
        return self._text(index, item, error_after)

    def _reasoning(self, index: int, item: Reasoning) -> bool:
        opened: dict[str, Any] = {"id": item.id, "type": "reasoning", "summary": []}
        if item.encrypted_content is not None:
            opened["encrypted_content"] = item.encrypted_content[: len(item.encrypted_content) // 2]
        self.emit("response.output_item.added", output_index=index, item=opened)
        for number, text in enumerate(item.summary):
            at = {"item_id": item.id, "output_index": index, "summary_index": number}
            self.emit(
                "response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""}
            )
            for piece in fragments(text, 2):
                self.emit("response.reasoning_summary_text.delta", **at, delta=piece)
            self.emit("response.reasoning_summary_text.done", **at, text=text)
            self.emit(
                "response.reasoning_summary_part.done", **at, part={"type": "summary_text", "text": text}
            )
        done: dict[str, Any] = {
            "id": item.id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text} for text in item.summary],
        }
        if item.encrypted_content is not None:
            done["encrypted_content"] = item.encrypted_content
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)
        return True

    def _text(self, index: int, item: Text, error_after: int | None) -> bool:
        message = {
            "id": item.id,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        self.emit("response.output_item.added", output_index=index, item=message)
        at = {"item_id": item.id, "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        self.emit("response.content_part.added", **at, part=empty)
        for piece in item.pieces if error_after is None else item.pieces[:error_after]:
            self.emit("response.output_text.delta", **at, delta=piece, logprobs=[])
        if error_after is not None:
            return False
        text = "".join(item.pieces)
        self.emit("response.output_text.done", **at, text=text, logprobs=[])
        part = {**empty, "text": text}
        self.emit("response.content_part.done", **at, part=part)
        done = {**message, "status": "completed", "content": [part]}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)
        return True

    def _call(self, index: int, item: Call) -> bool:
        item_id = item.id or f"fc_fake{index:04d}"
        opened = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": item.call_id,
            "name": item.name,
        }
        self.emit("response.output_item.added", output_index=index, item=opened)
        arguments = item.arguments_json
        for piece in fragments(arguments, item.parts):
            self.emit(
                "response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece
            )
        self.emit(
            "response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=arguments
        )
        done = {**opened, "status": "completed", "arguments": arguments}
        self.emit("response.output_item.done", output_index=index, item=done)
        self.output.append(done)
        return True


def responses_events(
    output: list[OutputItem],
    *,
    model: str = "gpt-5.3-codex",
    usage: tuple[int, int] | None = (10, 5),
    cached: int = 0,
    cache_write: int = 0,
    reasoning_tokens: int = 0,
    incomplete: str | None = None,
    failed: dict[str, Any] | None = None,
    error_after: int | None = None,
    error: dict[str, Any] | None = None,
) -> list[Item]:
    """The events of one streamed response with these output items, in order.

    It ends with `response.completed`; with `incomplete` (a reason: "max_output_tokens", "content_filter")
    `response.incomplete`; with `failed` (an error object: code, message) `response.failed`. With
    `error_after=n` the first text item stops after n pieces and an `error` event (`error` overrides its
    code and message) ends the stream, as the API does on a fault mid-stream.
    """
    writer = _Writer()
    created = _response(model, "in_progress", [])
    writer.emit("response.created", response=created)
    writer.emit("response.in_progress", response=created)
    for index, item in enumerate(output):
        if not writer.item(index, item, error_after):
            fault = error or {
                "code": "server_error",
                "message": "The server had an error processing your request.",
            }
            writer.emit("error", param=None, **fault)
            return writer.events
    usage_data = (
        usage_object(usage, cached=cached, cache_write=cache_write, reasoning=reasoning_tokens)
        if usage
        else None
    )
    if failed is not None:
        writer.emit("response.failed", response=_response(model, "failed", writer.output, error=failed))
    elif incomplete is not None:
        details = {"reason": incomplete}
        final = _response(model, "incomplete", writer.output, incomplete_details=details, usage=usage_data)
        writer.emit("response.incomplete", response=final)
    else:
        writer.emit(
            "response.completed", response=_response(model, "completed", writer.output, usage=usage_data)
        )
    return writer.events


def responses_stream(
    texts: list[str] | None = None,
    *,
    reasoning: list[Reasoning] | None = None,
    tool_calls: list[Call] | None = None,
    output: list[OutputItem] | None = None,
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
    **options: Any,
) -> Reply:
    """A streamed Responses reply: `reasoning` items, then a message of `texts`, then `tool_calls` (or the
    items of `output`, in that order). `options` go to `responses_events`."""
    items: list[OutputItem] = output or [
        *(reasoning or []),
        *([Text(texts)] if texts else []),
        *(tool_calls or []),
    ]
    return stream_reply(
        responses_events(items, **options), {**OPENAI_HEADERS, **(headers or {})}, delay_between
    )
