"""`byok acp`: the ACP agent on stdin/stdout, newline-delimited JSON-RPC through a screening transport.

The SDK's own stdio reader crashes on a line that is JSON but not an object (`[1,2]`, `"x"`) and says
nothing to the client about a line that is not JSON. `ScreenedTransport` answers both as JSON-RPC requires
(-32700 for a parse error, -32600 for an invalid request, id null) and hands the SDK only objects; an
over-long line is skipped and answered -32600. The client's answers to the agent's own requests are screened
too: the SDK crashes its reader on an `error` that is not an object. EOF on stdin ends the connection and the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any, cast

from byok.acp.agent import ByokAgent
from byok.core.session import Backend

if TYPE_CHECKING:
    from acp import Agent

log = logging.getLogger(__name__)
READ_LIMIT = 64 * 1024 * 1024
"""The longest line (one message) accepted, in bytes."""
PARSE_ERROR, INVALID_REQUEST, INTERNAL_ERROR = -32700, -32600, -32603


class ScreenedTransport:
    """The SDK's message transport over byte streams; only JSON objects reach the SDK."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        async with self._lock:
            self._writer.write(data)
            await self._writer.drain()

    async def receive(self) -> dict[str, Any] | None:
        while True:
            line = await self._line()
            if line is None:
                return None
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                await self._refuse(PARSE_ERROR, "Parse error: the line is not JSON")
                continue
            if not isinstance(message, dict):
                await self._refuse(INVALID_REQUEST, "Invalid request: a message must be a JSON object")
                continue
            method = message.get("method")
            if "method" in message and not isinstance(method, str):
                await self._refuse(INVALID_REQUEST, "Invalid request: method must be a string", message)
                continue
            if "method" not in message and "id" not in message:
                await self._refuse(INVALID_REQUEST, "Invalid request: neither a method nor an id", message)
                continue
            if "method" not in message:
                answer = _screened_answer(message)
                if answer is None:
                    continue
                return answer
            return message

    async def _line(self) -> bytes | None:
        """The next line, or None at EOF; an over-long line is skipped and answered."""
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial or None
        except asyncio.LimitOverrunError as exc:
            await self._reader.readexactly(exc.consumed)
            while True:  # drop the rest of the line
                try:
                    await self._reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as more:
                    await self._reader.readexactly(more.consumed)
                except asyncio.IncompleteReadError:
                    return None
            await self._refuse(
                INVALID_REQUEST, f"Invalid request: a message is longer than {READ_LIMIT} bytes"
            )
            return b""

    async def _refuse(self, code: int, message: str, request: dict[str, Any] | None = None) -> None:
        request_id = request.get("id") if request else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        log.info("refused a message: %s", message)
        await self.send({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        self._writer.close()


def _screened_answer(message: dict[str, Any]) -> dict[str, Any] | None:
    """The client's answer to one of the agent's requests as the SDK can read it: an id that is not a
    string or integer answers nothing (skipped), and an `error` that is not an object with an integer
    `code` and a string `message` becomes an internal error (the SDK would crash reading it)."""
    request_id = message["id"]
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        log.info("skipped an answer whose id is not a string or an integer")
        return None
    error = message.get("error")
    if "error" not in message or (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message", ""), str)
    ):
        return message
    log.info("the client answered request %s with a malformed error", str(request_id)[:40])
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": INTERNAL_ERROR, "message": "The client answered with a malformed error"},
    }


async def serve(backend: Backend) -> None:
    """Serve one ACP client on stdin/stdout until stdin closes."""
    from acp import run_agent
    from acp.stdio import stdio_streams

    reader, writer = await stdio_streams(limit=READ_LIMIT)
    try:
        # The SDK's Agent protocol lists every optional method (fork, resume, list ...); the router answers
        # "method not found" for those ByokAgent leaves out.
        agent = ByokAgent(backend)
        try:
            await run_agent(cast("Agent", agent), ScreenedTransport(reader, writer))
        finally:
            await agent.aclose()
    finally:
        await backend.aclose()
