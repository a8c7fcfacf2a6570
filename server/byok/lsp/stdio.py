"""stdio for the language server: a reader thread, a thread-safe non-blocking writer, strict LSP framing.

pygls 2 reads stdin through a thread pool (three hops per message), writes stdout with a blocking
write+flush inside the event loop, and is lenient in ways that leave a client hanging (a malformed header
makes it silently deaf; a body that does not parse gets no answer). Here one reader thread reads stdin,
checks the framing and parses the JSON, then hands each message to its lane: Tab's messages (document
sync, inline completion, completion and their cancels; see lsp/tab_lane.py) to Tab's own thread, so Tab
answers while the event loop is busy with streams; everything else to the event loop, in order. stdout
is written at once by whichever thread answers, under a lock; what the pipe cannot take yet is queued and
written by a flusher thread, so a write never blocks. Framing follows the spec:

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
import contextlib
import json
import logging
import os
import re
import select
import signal
import stat
import sys
import threading
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from byok.lsp.commands import ByokServer, Lane

log = logging.getLogger(__name__)
READ_LIMIT = 64 * 1024 * 1024
"""The largest header line and message body accepted (bytes)."""
HEADER = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*?)[ \t]*\r?\n$")
PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602
CANCEL_REQUEST, INITIALIZE = "$/cancelRequest", "initialize"


class FramingError(Exception):
    """The byte stream no longer follows the LSP base protocol; it cannot be resynchronised."""


class PipeWriter:
    """pygls' writer interface over the stdout pipe, safe to call from any thread and never blocking.

    A message is written at once when nothing is queued before it; what the pipe does not take yet is
    queued, in order, and written by a flusher thread as the pipe drains. Once the client has gone (a
    broken pipe) writes are dropped.
    """

    DRAIN_LIMIT_S = 10.0
    """How long `close` waits for a client to read what is still queued."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._drained = threading.Condition(self._lock)
        self._backlog = bytearray()
        self._gone = False
        threading.Thread(target=self._flush, name="byok-stdout", daemon=True).start()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._gone:
                return
            if not self._backlog:
                sent = self._write_now(data)
                if sent == len(data) or self._gone:
                    return
                data = data[sent:]
            self._backlog += data
            self._queued.notify()

    def _write_now(self, data: bytes | bytearray) -> int:
        """Write what the pipe takes without blocking (the lock is held); 0 when it is full."""
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # EPIPE and the like: the client is gone
            self._gone = True
            self._backlog.clear()
            self._drained.notify_all()
            return 0

    def _flush(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLOUT)
        while True:
            with self._lock:
                while not self._backlog:
                    self._queued.wait()
            poller.poll()  # until the pipe can take more (or is broken), without the lock
            with self._lock:
                sent = self._write_now(self._backlog)
                del self._backlog[:sent]
                if not self._backlog:
                    self._drained.notify_all()

    async def close(self) -> None:
        """Wait (bounded) until what is queued has been written: at once when nothing is, else in a thread."""
        if self._backlog:
            await asyncio.to_thread(self._wait_drained)

    def _wait_drained(self) -> None:
        with self._lock:
            self._drained.wait_for(lambda: not self._backlog, timeout=self.DRAIN_LIMIT_S)


class FrameReader:
    """The LSP base protocol over a blocking file descriptor: one message body at a time."""

    CHUNK = 256 * 1024

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._start = 0
        """Where the unread bytes of `_buffer` begin (consumed bytes are dropped in bulk, not per message)."""
        self._eof = False

    def _fill(self) -> bool:
        """Read more; False at EOF."""
        if self._eof:
            return False
        if self._start:
            del self._buffer[: self._start]
            self._start = 0
        data = os.read(self._fd, self.CHUNK)
        self._buffer += data
        self._eof = not data
        return not self._eof

    def _take(self, size: int) -> bytes:
        taken = bytes(self._buffer[self._start : self._start + size])
        self._start += size
        return taken

    def _line(self) -> bytes:
        """The next header line with its newline (without one at EOF; b"" at EOF with nothing left)."""
        searched = self._start
        while (end := self._buffer.find(b"\n", searched)) < 0:
            if len(self._buffer) - self._start > READ_LIMIT:
                raise FramingError(f"a header line is longer than {READ_LIMIT} bytes")
            searched = len(self._buffer) - self._start
            if not self._fill():
                return self._take(len(self._buffer) - self._start)
            searched += self._start
        return self._take(end + 1 - self._start)

    def read_message(self) -> bytes | None:
        """One message body, or None at a clean EOF between messages; raises FramingError otherwise."""
        length: int | None = None
        while True:
            line = self._line()
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
        while len(self._buffer) - self._start < length:
            if not self._fill():
                raise FramingError(
                    f"stdin closed after {len(self._buffer) - self._start} of {length} body bytes"
                )
        return self._take(length)


MAX_JSON_DEPTH = 10_000


def _parse(body: bytes) -> Any:
    """json.loads with room for deep (but bounded) nesting: params are depth-checked at the boundary."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_JSON_DEPTH))
    try:
        return json.loads(body)
    finally:
        sys.setrecursionlimit(limit)


def send_payload(server: ByokServer, payload: dict[str, Any]) -> None:
    """Frame and write one JSON-RPC message (from any thread)."""
    body = json.dumps(payload).encode()
    writer = server.protocol.writer
    if writer is not None:
        writer.write(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))


def send_error(server: ByokServer, msg_id: Any, code: int, message: str) -> None:
    send_payload(server, {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})


def parse(server: ByokServer, body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC 2.0 message in `body`; None when it is not one (answered with -32700/-32600)."""
    try:
        data = _parse(body)
    except (ValueError, RecursionError) as exc:
        log.error("stdin: a message that is not JSON (%s)", type(exc).__name__)
        send_error(server, None, PARSE_ERROR, "Parse error: the message is not valid JSON")
        return None
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        log.error("stdin: a message that is not JSON-RPC 2.0")
        msg_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), int | str) else None
        send_error(server, msg_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")
        return None
    return data


def request_id(data: dict[str, Any]) -> int | str | None:
    """The id of a request (None for a notification or a response)."""
    msg_id = data.get("id")
    return msg_id if "method" in data and isinstance(msg_id, int | str) else None


def structured(server: ByokServer, data: dict[str, Any], msg_id: int | str | None) -> Any | None:
    """The message as pygls' typed object; None when its params do not fit, after answering a request so."""
    try:
        return server.protocol.structure_message(data)
    except Exception as exc:  # cattrs raises many kinds for a bad shape; each is the client's input
        method = str(data.get("method", ""))[:80]
        log.error("stdin: cannot read the params of %s (%s)", method or "a message", type(exc).__name__)
        if msg_id is not None:
            code = INVALID_PARAMS if isinstance(exc, JsonRpcInvalidParams) else INVALID_REQUEST
            send_error(server, msg_id, code, f"Invalid params for {method}")
        return None


def dispatch(server: ByokServer, data: dict[str, Any]) -> None:
    """Hand one parsed message to pygls (on the event loop); answer what cannot be handled instead of dropping it."""
    msg_id = request_id(data)
    message = structured(server, data, msg_id)
    if message is None:
        return
    try:
        server.protocol.handle_message(message)
    except Exception:
        log.exception("stdin: failed to handle a message")
        if msg_id is not None:
            send_error(server, msg_id, INVALID_REQUEST, "The message could not be handled")


class StdinReader:
    """The reader thread: frames and parses stdin, then routes each message to Tab's lane or the event loop.

    The loop gets its messages in order through `call_soon_threadsafe`; `initialize` is waited for (the
    workspace that Tab's lane edits is made by it) before anything after it is read. At EOF or a framing
    error `ended` resolves (None, or the error).
    """

    def __init__(
        self, server: ByokServer, lane: Lane | None, loop: asyncio.AbstractEventLoop, fd: int
    ) -> None:
        self.server = server
        self.lane = lane
        self.loop = loop
        self.frames = FrameReader(fd)
        self.ended: asyncio.Future[FramingError | None] = loop.create_future()
        os.set_blocking(fd, True)

    def start(self) -> None:
        threading.Thread(target=self._run, name="byok-stdin", daemon=True).start()

    def _run(self) -> None:
        outcome: FramingError | None = None
        try:
            while (body := self.frames.read_message()) is not None:
                data = parse(self.server, body)
                if data is not None:
                    self._route(data)
        except FramingError as exc:
            outcome = exc
        except OSError as exc:
            outcome = FramingError(f"stdin cannot be read: {exc}")
        self._on_loop(self._end, outcome)

    def _route(self, data: dict[str, Any]) -> None:
        method = data.get("method")
        lane = self.lane
        if lane is not None:
            if lane.takes(method):
                lane.submit(data)
                return
            if method == CANCEL_REQUEST and lane.cancel(data.get("params")):
                return
        if method == INITIALIZE:
            initialized = threading.Event()
            self._on_loop(self._dispatch_then_set, data, initialized)
            initialized.wait()
            return
        self._on_loop(dispatch, self.server, data)

    def _dispatch_then_set(self, data: dict[str, Any], done: threading.Event) -> None:
        try:
            dispatch(self.server, data)
        finally:
            done.set()

    def _end(self, outcome: FramingError | None) -> None:
        if not self.ended.done():
            self.ended.set_result(outcome)

    def _on_loop(self, callback: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is exiting
            self.loop.call_soon_threadsafe(callback, *args)


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


async def _serve_pipes(server: ByokServer, lane: Lane | None) -> int:
    loop = asyncio.get_running_loop()
    writer = PipeWriter(sys.stdout.fileno())
    server.protocol.set_writer(writer)  # type: ignore[arg-type]  # pygls awaits an awaitable close()
    reader = StdinReader(server, lane, loop, sys.stdin.fileno())
    if lane is not None:
        lane.start()
    reader.start()
    try:
        error = await reader.ended
    finally:
        await writer.close()
    if error is not None:
        log.error("stdin: %s; the LSP stream cannot be resynchronised, exiting", error)
        return 1
    if not server.protocol._shutdown:
        log.error("stdin closed before shutdown; exiting")
        return 1
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the server like `exit`: asyncio.run cancels the running tasks and waits for their clean-up."""
    raise SystemExit(128 + signum)


def start_stdio(server: ByokServer, lane: Lane | None = None) -> None:
    """Serve LSP on stdin/stdout, Tab's messages on `lane`; exits 0 after shutdown+exit, 1 otherwise (LSP spec)."""
    if not pipes_usable():
        server.start_io()
        return
    code: int | str | None
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        code = asyncio.run(_serve_pipes(server, lane))
    except SystemExit as exc:  # pygls' `exit` handler: 0 after shutdown, else 1
        code = exc.code
    except BrokenPipeError:
        log.error("the client closed the connection")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        if lane is not None:
            lane.stop()
        server.shutdown()  # type: ignore[no-untyped-call]
    sys.exit(code)
