"""stdio for the language server: asyncio pipes and a strict LSP base-protocol reader.

pygls 2 reads stdin through a thread pool (three hops per message), writes stdout with a blocking
write+flush inside the event loop, and is lenient in ways that leave a client hanging (a malformed header
makes it silently deaf; a body that does not parse gets no answer). Here stdin is an `asyncio.StreamReader`
on the pipe, stdout a non-blocking pipe transport, and framing follows the spec:

- a body that is not JSON gets -32700 (id null), a message that is not JSON-RPC -32600, a request whose
  params cannot be read -32602 with its id; the server carries on;
- a malformed header (no usable Content-Length, over the size limit) cannot be resynchronised: it is
  logged on stderr and the server exits 1;
- EOF or `exit` without `shutdown` exits 1, after `shutdown` 0 (LSP spec); SIGTERM exits 143, after the same
  clean-up (running tasks cancelled, MCP servers and their process groups stopped).

Falls back to pygls' own stdio when stdin/stdout are not pipes (a file, a terminal) or share one open file
with stderr (non-blocking mode would then leak into stderr writes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import stat
import sys
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from byok.lsp.commands import ByokServer

log = logging.getLogger(__name__)
READ_LIMIT = 64 * 1024 * 1024
"""The largest header line and message body accepted (bytes)."""
HEADER = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*?)[ \t]*\r?\n$")
PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


class FramingError(Exception):
    """The byte stream no longer follows the LSP base protocol; it cannot be resynchronised."""


class PipeWriter:
    """pygls' writer interface over a non-blocking pipe transport (writes never block the event loop)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def close(self) -> None:
        try:
            await self._writer.drain()
        except ConnectionError:  # the client is already gone
            pass
        finally:
            self._writer.close()


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One message body, or None at a clean EOF between messages; raises FramingError otherwise."""
    length: int | None = None
    while True:
        try:
            line = await reader.readline()
        except ValueError:
            raise FramingError(f"a header line is longer than {READ_LIMIT} bytes") from None
        if not line:
            if length is None:
                return None
            raise FramingError("stdin closed in the middle of a message header")
        if line in (b"\r\n", b"\n"):
            break
        match = HEADER.match(line)
        if match is None:
            raise FramingError(f"malformed header line {line[:80]!r}")
        if match.group(1).lower() == b"content-length":
            if not match.group(2).isdigit():
                raise FramingError(f"Content-Length is not a number: {match.group(2)[:40]!r}")
            length = int(match.group(2))
    if length is None:
        raise FramingError("a message header without Content-Length")
    if length > READ_LIMIT:
        raise FramingError(f"Content-Length {length} is over the {READ_LIMIT}-byte limit")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise FramingError(f"stdin closed after {len(exc.partial)} of {length} body bytes") from None


MAX_JSON_DEPTH = 10_000


def _parse(body: bytes) -> Any:
    """json.loads with room for deep (but bounded) nesting: params are depth-checked at the boundary."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_JSON_DEPTH))
    try:
        return json.loads(body)
    finally:
        sys.setrecursionlimit(limit)


def _send_error(server: ByokServer, msg_id: Any, code: int, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}).encode()
    writer = server.protocol.writer
    if writer is not None:
        writer.write(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))


def dispatch(server: ByokServer, body: bytes) -> None:
    """Parse, check and hand one message to pygls; answer what cannot be handled instead of dropping it."""
    try:
        data = _parse(body)
    except (ValueError, RecursionError) as exc:
        log.error("stdin: a message that is not JSON (%s)", type(exc).__name__)
        _send_error(server, None, PARSE_ERROR, "Parse error: the message is not valid JSON")
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        log.error("stdin: a message that is not JSON-RPC 2.0")
        msg_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), int | str) else None
        _send_error(server, msg_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
        return
    is_request = "method" in data and isinstance(data.get("id"), int | str)
    try:
        message = server.protocol.structure_message(data)
    except Exception as exc:
        method = str(data.get("method", ""))[:80]
        log.error("stdin: cannot read the params of %s (%s)", method or "a message", type(exc).__name__)
        if is_request:
            code = INVALID_PARAMS if isinstance(exc, JsonRpcInvalidParams) else INVALID_REQUEST
            _send_error(server, data["id"], code, f"Invalid params for {method}")
        return
    try:
        server.protocol.handle_message(message)
    except Exception:
        log.exception("stdin: failed to handle a message")
        if is_request:
            _send_error(server, data["id"], INVALID_REQUEST, "The message could not be handled")


async def serve(server: ByokServer, reader: asyncio.StreamReader) -> None:
    """Read and dispatch messages until EOF; raises FramingError when the stream is broken."""
    while (body := await read_message(reader)) is not None:
        dispatch(server, body)


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _shares_stderr(fd: int) -> bool:
    out, err = os.fstat(fd), os.fstat(sys.stderr.fileno())
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def pipes_usable() -> bool:
    try:
        stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
        return _is_pipe(stdin) and _is_pipe(stdout) and not _shares_stderr(stdout)
    except (OSError, ValueError, AttributeError):
        return False


async def _serve_pipes(server: ByokServer) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
    writer = PipeWriter(asyncio.StreamWriter(transport, protocol, None, loop))
    server.protocol.set_writer(writer)  # type: ignore[arg-type]  # pygls awaits an awaitable close()
    try:
        await serve(server, reader)
    except FramingError as exc:
        log.error("stdin: %s; the LSP stream cannot be resynchronised, exiting", exc)
        return 1
    finally:
        await writer.close()
    if not server.protocol._shutdown:
        log.error("stdin closed before shutdown; exiting")
        return 1
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the server like `exit`: asyncio.run cancels the running tasks and waits for their clean-up."""
    raise SystemExit(128 + signum)


def start_stdio(server: ByokServer) -> None:
    """Serve LSP on stdin/stdout; exits 0 after shutdown+exit, 1 otherwise (LSP spec)."""
    if not pipes_usable():
        server.start_io()
        return
    code: int | str | None
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        code = asyncio.run(_serve_pipes(server))
    except SystemExit as exc:  # pygls' `exit` handler: 0 after shutdown, else 1
        code = exc.code
    except BrokenPipeError:
        log.error("the client closed the connection")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]
    sys.exit(code)
