"""Server-sent events decoding, separate from what the events mean.

Follows the SSE spec (`event:`/`data:` fields, blank line dispatches, `:` comments, CRLF) and, for
Gemini, also yields raw JSON objects written without a `data:` prefix (errors mid-stream arrive so).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

RAW_JSON_EVENT = "raw-json"


@dataclass(slots=True)
class ServerSentEvent:
    event: str
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Decode an async stream of text lines (line endings already stripped) into events."""
    event = ""
    data: list[str] = []
    raw: list[str] = []
    depth = 0
    async for line in lines:
        if raw or (not data and line.startswith(("{", "["))):
            raw.append(line)
            depth += _nesting(line)
            if depth <= 0:
                yield ServerSentEvent(RAW_JSON_EVENT, "\n".join(raw))
                raw, depth = [], 0
            continue
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))
    if raw:
        yield ServerSentEvent(RAW_JSON_EVENT, "\n".join(raw))


def _nesting(line: str) -> int:
    """How much deeper in JSON brackets a line ends than it starts; brackets inside strings don't count.

    JSON strings cannot span lines, so each line starts outside a string.
    """
    depth = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return depth
