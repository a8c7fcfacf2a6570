"""Shared helpers for building SSE replies."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Drop, Item, Reply, Stall

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def dumps(obj: Any) -> str:
    """Compact JSON, as the providers put it on the wire."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def data_event(obj: Any) -> bytes:
    """One `data:` SSE event."""
    return f"data: {obj if isinstance(obj, str) else dumps(obj)}\n\n".encode()


def named_event(name: str, obj: Any) -> bytes:
    """One SSE event with an `event:` name."""
    return f"event: {name}\ndata: {dumps(obj)}\n\n".encode()


def fragments(text: str, parts: int = 3) -> list[str]:
    """Split `text` into up to `parts` non-empty pieces, in order."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def stream_reply(
    events: list[Item], headers: dict[str, str] | None = None, delay_between: float = 0.0
) -> Reply:
    """A 200 event-stream reply writing each event as its own chunk."""
    return Reply(headers={**SSE_HEADERS, **(headers or {})}, chunks=events, delay_between=delay_between)


def sse_reply(
    raw_events: list[str | Stall | Drop],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
) -> Reply:
    """A hand-made event stream: each string is sent verbatim as one chunk.

    A string that does not end with a newline gets a blank-line terminator ("\\n\\n") appended, so
    `[": OPENROUTER PROCESSING", 'data: {"x":1}']` are two complete events; strings ending in newlines
    (e.g. with `\\r\\n` line endings, or a partial event) are left alone. `Stall`/`Drop` pass through.
    """
    chunks: list[Item] = []
    for event in raw_events:
        if isinstance(event, str):
            chunks.append((event if event.endswith(("\n", "\r")) else event + "\n\n").encode())
        else:
            chunks.append(event)
    return Reply(
        status=status,
        headers={**SSE_HEADERS, **(headers or {})},
        chunks=chunks,
        delay_between=delay_between,
    )


def retry_headers(retry_after: float | None, headers: dict[str, str] | None) -> dict[str, str]:
    """`headers` plus a `retry-after` header when `retry_after` is given."""
    extra = dict(headers or {})
    if retry_after is not None:
        extra["retry-after"] = f"{retry_after:g}"
    return extra
