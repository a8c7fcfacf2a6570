"""A loopback HTTP server that replays scripted replies, for provider adapter tests.

Requests are recorded in full before any reply byte is written. Request headers are never printed or
logged: tests pass fake API keys through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Stall:
    """Pause the response for `seconds` (the server notices a client that hangs up meanwhile)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the socket mid-response: a FIN by default, a TCP reset with `reset=True`."""

    reset: bool = False


Item = bytes | Stall | Drop


@dataclass
class Reply:
    """A scripted HTTP response: either a whole `body` or `chunks` written one by one, flushed each.

    `chunks` go out with `Transfer-Encoding: chunked` (or, with `framing="close"`, unframed and ended by
    closing the connection). `delay_between` sleeps between chunks. With `stall_before_headers`, leading
    `Stall`/`Drop` items run before the status line is sent.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[Item] | None = None
    delay_between: float = 0.0
    stall_before_headers: bool = False
    framing: Literal["chunked", "close"] = "chunked"

    def __post_init__(self) -> None:
        if self.chunks is not None and self.body:
            raise ValueError("a Reply has either body or chunks, not both")

    def with_inserted(self, after: int, *items: Item) -> Reply:
        """A copy with `items` written after its first `after` chunks (a body becomes one chunk)."""
        current = self._items()
        return replace(self, body=b"", chunks=[*current[:after], *items, *current[after:]])

    def with_stall(self, after: int, seconds: float) -> Reply:
        """A copy that stalls `seconds` after its first `after` chunks."""
        return self.with_inserted(after, Stall(seconds))

    def with_drop(self, after: int, *, reset: bool = False) -> Reply:
        """A copy cut after its first `after` chunks by an abrupt close."""
        return replace(self, body=b"", chunks=[*self._items()[:after], Drop(reset)])

    def delayed(self, seconds: float) -> Reply:
        """A copy that waits `seconds` before sending its status line (a body becomes one chunk)."""
        return replace(self.with_inserted(0, Stall(seconds)), stall_before_headers=True)

    def _items(self) -> list[Item]:
        return list(self.chunks) if self.chunks is not None else [self.body]


@dataclass
class RecordedRequest:
    """One request as the server received it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:  # never show headers: they carry API keys
        return f"RecordedRequest({self.method} {self.path}, {len(self.body)} body bytes)"


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON body reply."""
    return Reply(
        status=status,
        headers={"content-type": "application/json", **(headers or {})},
        body=json.dumps(obj).encode(),
    )


Responder = Callable[[RecordedRequest], Reply]
"""A reply computed from the request (e.g. usage that depends on what the request sent)."""

NOT_FOUND = json_reply(404, {"error": {"message": "no fake route for this request", "code": "404"}})


class _Route:
    def __init__(self, method: str, pattern: str, replies: tuple[Reply | Responder, ...]) -> None:
        self.method = method.upper()
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.replies = list(replies)

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return path == self.pattern or self.regex.fullmatch(path) is not None

    def next_reply(self) -> Reply | Responder:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _ClientGone(Exception):
    """The client closed its connection while the server was still responding."""


class _Stopping(Exception):
    """The fake server is shutting down."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _handle(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        reply = fake._record_and_pick(request)
        try:
            self._respond(reply)
        except _ClientGone:
            self.close_connection = True
            fake._client_disconnected()
        except _Stopping:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            if not fake._stopping.is_set():
                fake._client_disconnected()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _respond(self, reply: Reply) -> None:
        items = list(reply.chunks) if reply.chunks is not None else []
        if reply.stall_before_headers:
            while items and isinstance(items[0], Stall | Drop):
                if not self._run_fault(items.pop(0)):
                    return
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunks is None:
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self._write(reply.body)
            return
        chunked = reply.framing == "chunked"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self._check_client()
        for position, item in enumerate(items):
            if position and reply.delay_between:
                self._wait(reply.delay_between)
            if isinstance(item, Stall | Drop):
                if not self._run_fault(item):
                    return
            elif item:
                self._check_client()
                self._write(b"%x\r\n%b\r\n" % (len(item), item) if chunked else item)
        if chunked:
            self._write(b"0\r\n\r\n")

    def _run_fault(self, item: Stall | Drop) -> bool:
        """Run a Stall or Drop; False once the connection has been dropped."""
        if isinstance(item, Stall):
            self._wait(item.seconds)
            return True
        self._drop(item.reset)
        return False

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    def _wait(self, seconds: float) -> None:
        """Sleep, raising _ClientGone as soon as the client hangs up."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], remaining)
            if readable:
                self._check_client()
                # The client sent more bytes (a pipelined request): just sleep the rest.
                self.server.fake._stopping.wait(max(0.0, deadline - time.monotonic()))
        self._check_client()

    def _check_client(self) -> None:
        """Raise _ClientGone if the client has closed the connection (or _Stopping on shutdown)."""
        if self.server.fake._stopping.is_set():
            raise _Stopping
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return
        try:
            peeked = self.connection.recv(1, socket.MSG_PEEK)
        except (ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc
        if self.server.fake._stopping.is_set():
            raise _Stopping
        if not peeked:
            raise _ClientGone


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that vanish mid-request (routine here); report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeServer:
    """A scripted HTTP/1.1 server on 127.0.0.1 running in a background thread.

    `route(method, pattern, *replies)` queues replies for paths matching `pattern` (the exact path or a
    regex matched with fullmatch); each match pops the next reply and the last one repeats. The most
    recently added matching route wins; routing the same method and pattern again replaces its queue.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.connections_opened = 0
        self._routes: list[_Route] = []
        self._default = NOT_FOUND
        self._lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def start(self) -> FakeServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def route(self, method: str, path_pattern: str, *replies: Reply | Responder) -> None:
        """Queue `replies` for `method` (or "*") on paths matching `path_pattern`; a `Responder` is called
        with the request to make its reply."""
        if not replies:
            raise ValueError("route() needs at least one reply")
        new = _Route(method, path_pattern, replies)
        with self._lock:
            self._routes = [r for r in self._routes if (r.method, r.pattern) != (new.method, new.pattern)]
            self._routes.append(new)

    def default(self, reply: Reply) -> None:
        """The reply for requests no route matches (initially a 404 JSON error)."""
        with self._lock:
            self._default = reply

    def wait_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """Block until at least `count` client disconnects mid-response were seen."""
        with self._lock:
            return self._lock.wait_for(lambda: self.disconnects >= count, timeout)

    async def await_disconnect(self, seconds: float = 5.0, count: int = 1) -> bool:
        """wait_disconnect() for async tests, without blocking the event loop."""
        return await asyncio.to_thread(self.wait_disconnect, seconds, count)

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` requests were recorded."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            picked: Reply | Responder = self._default
            for candidate in reversed(self._routes):
                if candidate.matches(request.method, request.path):
                    picked = candidate.next_reply()
                    break
        return picked if isinstance(picked, Reply) else picked(request)

    def _client_disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1
            self._lock.notify_all()

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            self.connections_opened += 1

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
            self._lock.notify_all()


def refused_url() -> str:
    """A loopback URL where nothing listens, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
