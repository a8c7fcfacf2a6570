"""Server-sent events decoding, separate from what the events mean.

Follows the SSE spec (`event:`/`data:` fields, blank line dispatches, `:` comments, lines end only at CR,
LF or CRLF) and, for Gemini, also yields raw JSON objects written without a `data:` prefix (errors
mid-stream arrive so). A line or an event over 1 MiB stops the stream with a provider_error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from byok.base.errors import ByokError
from byok.providers.http import iter_body, stream_capped

RAW_JSON_EVENT = "raw-json"
MAX_LINE_BYTES = 1024 * 1024
MAX_EVENT_BYTES = 1024 * 1024
_LINE_ENDS = (b"\n", b"\r")
FINISH_S = 0.1
"""How long a stream whose last event came may take to end its body before its connection is dropped."""
FINISH_LINES = 64


@dataclass(slots=True)
class ServerSentEvent:
    event: str
    data: str


def response_lines(response: httpx.Response, *, provider: str) -> AsyncIterator[str]:
    """A streaming response's text lines, within every cap (decompressed bytes, line size)."""
    return iter_lines(iter_body(response, provider=provider), provider=provider)


async def finish_lines(lines: AsyncIterator[str]) -> None:
    """Read what is left of a stream after its last event (usually only the end of the chunked body, already
    received), so the connection goes back to the pool and the next request skips a TCP and TLS handshake.

    A body that does not end within `FINISH_S` or `FINISH_LINES` lines, or breaks, is left unread: its
    connection is then closed, as it would have been without this.
    """
    try:
        async with asyncio.timeout(FINISH_S):
            count = 0
            async for _ in lines:
                count += 1
                if count > FINISH_LINES:
                    return
    except (TimeoutError, ByokError, httpx.TransportError):
        return


async def iter_lines(chunks: AsyncIterator[bytes], *, provider: str) -> AsyncIterator[str]:
    """Split body bytes into UTF-8 text lines, only at CR, LF or CRLF (never at U+2028 and the like).

    A line is decoded once whole, so a character split between chunks stays whole. The last line is
    yielded even without an ending. A line over `MAX_LINE_BYTES` is an error before it is ever whole.
    """
    pending: list[bytes] = []
    pending_size = 0
    after_cr = False
    async for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):  # the LF of a CRLF split between two chunks
            chunk = chunk[1:]
            after_cr = False
        if not chunk:
            continue
        after_cr = chunk.endswith(b"\r")
        lines = chunk.splitlines()  # bytes.splitlines breaks at CR, LF and CRLF only
        tail = None if chunk.endswith(_LINE_ENDS) else lines.pop()
        if lines and pending:
            lines[0] = b"".join((*pending, lines[0]))
            pending, pending_size = [], 0
        for line in lines:
            if len(line) > MAX_LINE_BYTES:
                raise stream_capped(provider, "a line over 1 MiB")
            yield line.decode(errors="replace")
        if tail is not None:
            pending.append(tail)
            pending_size += len(tail)
            if pending_size > MAX_LINE_BYTES:
                raise stream_capped(provider, "a line over 1 MiB")
    if pending:
        yield b"".join(pending).decode(errors="replace")


async def iter_sse(lines: AsyncIterator[str], *, provider: str) -> AsyncIterator[ServerSentEvent]:
    """Decode an async stream of text lines (line endings already stripped) into events.

    An event's data (or a raw JSON object's lines) over `MAX_EVENT_BYTES` is an error.
    """
    event = ""
    data: list[str] = []
    raw: list[str] = []
    size = depth = 0
    async for line in lines:
        if raw or (not data and line.startswith(("{", "["))):
            raw.append(line)
            size += _utf8_size(line) + 1
            if size > MAX_EVENT_BYTES:
                raise stream_capped(provider, "an event over 1 MiB")
            depth += _nesting(line)
            if depth <= 0:
                yield ServerSentEvent(RAW_JSON_EVENT, "\n".join(raw))
                raw, size, depth = [], 0, 0
            continue
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data, size = "", [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
            size += _utf8_size(value) + 1
            if size > MAX_EVENT_BYTES:
                raise stream_capped(provider, "an event over 1 MiB")
        elif name == "event":
            event = value
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))
    if raw:
        yield ServerSentEvent(RAW_JSON_EVENT, "\n".join(raw))


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))


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
