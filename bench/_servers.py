"""A fast loopback OpenAI-compatible streaming server for benchmarks (raw asyncio sockets, HTTP/1.1).

Run as its own process (`python bench/_servers.py`, prints `PORT <n>`), so neither the benchmark client nor
the byok server shares an event loop with it. Listens on 127.0.0.1 only.

What a `POST …/chat/completions` streams is scripted by the last message's content, a JSON object:
`{"n": deltas, "text": each delta's text, "interval": seconds between deltas (0 = as fast as possible),
"hold": seconds to keep the stream open after the first delta, waiting for the client to hang up,
"tag": a name}`. Unpaced streams write the first event at once and the rest in large chunked writes.
The time (CLOCK_MONOTONIC, comparable across processes) at which each tagged request's connection was
closed by the client is served at `GET /_bench/closed?tag=<tag>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BATCH = 256
"""Events per write when streaming unpaced."""
MAX_HOLD_S = 30.0
MAX_DELTAS = 1_000_000


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "m", **obj}


def delta_event(text: str, first: bool = False) -> bytes:
    """One Chat Completions SSE chunk carrying `text`."""
    delta: dict[str, Any] = {"role": "assistant", "content": text} if first else {"content": text}
    return _event(_chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))


def tail_events(n: int) -> bytes:
    """The finish chunk, the usage-only chunk and `[DONE]`."""
    finish = _event(_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}
    return finish + _event(_chunk({"choices": [], "usage": usage})) + b"data: [DONE]\n\n"


def framed(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class StreamServer:
    """The server state: close times of tagged connections, and counters."""

    def __init__(self) -> None:
        self.closed: dict[str, float] = {}
        self.requests = 0
        self.connections = 0
        self.open_connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        tag: str | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                method, target, headers = _parse_head(head)
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                url = urlsplit(target)
                if method == "POST" and url.path.endswith("/chat/completions"):
                    script = _script(body)
                    tag = str(script.get("tag") or "") or None
                    if not await self.stream(reader, writer, script):
                        break
                elif method == "GET" and url.path.endswith("/models"):
                    await _json(writer, 200, {"object": "list", "data": [{"id": "m", "object": "model"}]})
                elif method == "GET" and url.path == "/_bench/closed":
                    wanted = dict(parse_qsl(url.query)).get("tag", "")
                    await _json(writer, 200, {"closed": self.closed.get(wanted)})
                elif method == "GET" and url.path == "/_bench/stats":
                    stats = {
                        "requests": self.requests,
                        "connections": self.connections,
                        "open": self.open_connections,
                    }
                    await _json(writer, 200, stats)
                else:
                    await _json(writer, 404, {"error": {"message": "no such bench route"}})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if tag is not None:
                self.closed[tag] = time.monotonic()
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, script: dict[str, Any]
    ) -> bool:
        """Write one scripted stream; False when the client hung up (the connection is done)."""
        n = max(1, min(int(script.get("n", 20)), MAX_DELTAS))
        text = str(script.get("text", "x"))
        interval = max(0.0, float(script.get("interval", 0.0)))
        hold = min(max(0.0, float(script.get("hold", 0.0))), MAX_HOLD_S)
        writer.write(SSE_HEAD + framed(delta_event(text, first=True)))
        await writer.drain()
        if hold:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), hold)
            return False  # the client hung up (or sent bytes mid-stream): this connection is done
        if interval:
            hangup = asyncio.ensure_future(reader.read(1))
            try:
                other = delta_event(text)
                for _ in range(n - 1):
                    await asyncio.sleep(interval)
                    if hangup.done():
                        return False
                    writer.write(framed(other))
            finally:
                hangup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hangup
        else:
            other = delta_event(text)
            left = n - 1
            while left > 0:
                batch = min(BATCH, left)
                left -= batch
                writer.write(framed(other * batch))
                await writer.drain()
        writer.write(framed(tail_events(n)) + LAST_CHUNK)
        await writer.drain()
        return True


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _script(body: bytes) -> dict[str, Any]:
    try:
        messages = json.loads(body).get("messages") or []
        script = json.loads(messages[-1]["content"])
    except (ValueError, LookupError, TypeError, AttributeError):
        return {}
    return script if isinstance(script, dict) else {}


async def _json(writer: asyncio.StreamWriter, status: int, obj: Any) -> None:
    body = json.dumps(obj).encode()
    writer.write(
        b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (status, len(body), body)
    )
    await writer.drain()


async def serve(port: int) -> None:
    state = StreamServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", port, backlog=512)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        # Exit with the parent: stdin is a pipe from the benchmark, closed when it goes away.
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

        async def watch() -> None:
            await stdin.read()
            gone.set_result(None)

        watcher = asyncio.ensure_future(watch())
        await gone
        watcher.cancel()


class LoopbackServer:
    """The stream server in a child process; `url` is its OpenAI-style base URL."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> LoopbackServer:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 10)
        self.port = int(line.split()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
