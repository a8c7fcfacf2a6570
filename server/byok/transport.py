"""stdio for the language server on asyncio pipes instead of pygls' thread-per-read reader and blocking writes.

pygls 2 reads stdin through a thread pool (three hops per message) and writes stdout with a blocking
write+flush inside the event loop; under load both add milliseconds to every streamed delta. Here stdin is
an `asyncio.StreamReader` on the pipe and stdout a non-blocking pipe transport. Falls back to pygls' own
stdio when stdin/stdout are not pipes (a file, a terminal) or share one open file with stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading

from pygls.io_ import run_async

from byok.lsp import ByokServer

log = logging.getLogger(__name__)
READ_LIMIT = 64 * 1024 * 1024


class PipeReader:
    """pygls' reader interface over an asyncio StreamReader, with its EOF semantics (short reads, b"")."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def readline(self) -> bytes:
        try:
            return await self._reader.readline()
        except ValueError:  # a header line longer than READ_LIMIT: treat the stream as broken
            log.error("stdin: header line too long; closing")
            return b""

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


class PipeWriter:
    """pygls' writer interface over a non-blocking pipe transport (writes never block the event loop)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def close(self) -> None:
        try:
            await self._writer.drain()
        finally:
            self._writer.close()


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _shares_stderr(fd: int) -> bool:
    """Non-blocking mode is per open file: never set it on one that stderr writes to as well."""
    out, err = os.fstat(fd), os.fstat(sys.stderr.fileno())
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def pipes_usable() -> bool:
    try:
        stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
        return _is_pipe(stdin) and _is_pipe(stdout) and not _shares_stderr(stdout)
    except (OSError, ValueError, AttributeError):
        return False


async def _serve(server: ByokServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    server.protocol.set_writer(PipeWriter(writer))  # type: ignore[arg-type]  # an awaitable close() is supported
    stop = threading.Event()
    server._stop_event = stop
    await run_async(
        stop_event=stop,
        reader=PipeReader(reader),
        protocol=server.protocol,
        logger=logging.getLogger("pygls.io"),
        error_handler=server.report_server_error,
    )
    await PipeWriter(writer).close()


def start_stdio(server: ByokServer) -> None:
    """Serve LSP on stdin/stdout until the client exits or closes the pipe."""
    if not pipes_usable():
        server.start_io()
        return
    try:
        asyncio.run(_serve(server))
    except BrokenPipeError:
        log.error("the client closed the connection")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]
