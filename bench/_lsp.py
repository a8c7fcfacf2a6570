"""A minimal JSON-RPC/LSP client over a server process's stdio, timing every message it receives.

Times are `time.monotonic()` (CLOCK_MONOTONIC), taken as soon as a message's bytes are read, so they
compare with the loopback server's records from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_COMMAND = [sys.executable, "-m", "byok"]
SERVER_DIR = Path(__file__).resolve().parent.parent / "server"


@dataclass
class Reply:
    """A response: `result` or `error`, and when it arrived."""

    at: float
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class Stream:
    """What arrived for one `byok/stream` id."""

    first_at: float | None = None
    last_at: float | None = None
    notifications: int = 0
    chars: int = 0
    waiter: asyncio.Future[float] | None = None


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


@dataclass
class LspClient:
    """Speaks to one server process; answers its requests (configuration, progress) with defaults."""

    process: asyncio.subprocess.Process
    settings: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    on_notification: dict[str, Callable[[float, Any], None]] = field(default_factory=dict)
    _pending: dict[int, asyncio.Future[Reply]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _reader_task: asyncio.Task[None] | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> None:
        self._reader_task = asyncio.ensure_future(self._read_loop())

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def send_request(self, method: str, params: Any) -> tuple[int, asyncio.Future[Reply]]:
        """Write a request now; the future resolves with its Reply."""
        request_id = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id, future

    async def request(self, method: str, params: Any, limit_s: float = 30.0) -> Any:
        """Send a request and return its result (RpcError on an error answer)."""
        _, future = self.send_request(method, params)
        reply = await asyncio.wait_for(future, limit_s)
        if reply.error is not None:
            raise RpcError(reply.error)
        return reply.result

    def notify(self, method: str, params: Any) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def cancel(self, request_id: int) -> None:
        self.notify("$/cancelRequest", {"id": request_id})

    def stream(self, stream_id: str) -> Stream:
        return self.streams.setdefault(stream_id, Stream())

    async def _read_loop(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                head = await stdout.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await stdout.readexactly(length)
                at = time.monotonic()
                self._dispatch(at, json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the server closed its stdout"))

    def _dispatch(self, at: float, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(Reply(at, message.get("result"), message.get("error")))
            return
        params = message.get("params")
        if "id" in message:  # a request from the server
            result: Any = None
            if method == "workspace/configuration":
                result = [self.settings for _ in (params or {}).get("items", [])]
            self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        if method == "byok/stream":
            stream = self.stream(params["streamId"])
            if stream.first_at is None:
                stream.first_at = at
                if stream.waiter is not None and not stream.waiter.done():
                    stream.waiter.set_result(at)
            stream.last_at = at
            stream.notifications += 1
            stream.chars += len(params["delta"]["text"])
        handler = self.on_notification.get(method)
        if handler is not None:
            handler(at, params)

    async def first_delta(self, stream_id: str, limit_s: float = 30.0) -> float:
        """When the first notification of `stream_id` arrived (waits for it)."""
        stream = self.stream(stream_id)
        if stream.first_at is not None:
            return stream.first_at
        stream.waiter = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(stream.waiter, limit_s)

    async def initialize(self, byok_settings: dict[str, Any]) -> Any:
        """`initialize` with the settings in initializationOptions, then `initialized`."""
        self.settings = byok_settings
        result = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": False},
                    "window": {"workDoneProgress": False},
                },
                "initializationOptions": {"byok": byok_settings},
            },
        )
        self.capabilities = result.get("capabilities", {})
        self.notify("initialized", {})
        return result

    async def close(self) -> None:
        """shutdown + exit, then make sure the process is gone."""
        with contextlib.suppress(Exception):
            await self.request("shutdown", None, limit_s=10)
            self.notify("exit", None)
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task


def server_env(data_home: str) -> dict[str, str]:
    """The byok process environment: its own data dir, no keychain, no proxies, no provider keys."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        XDG_DATA_HOME=data_home,
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        PYTHONPATH=os.pathsep.join(p for p in (str(SERVER_DIR), env.get("PYTHONPATH", "")) if p),
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


async def spawn(data_home: str | None = None) -> tuple[LspClient, float]:
    """Start the byok server process; returns the client and the monotonic time just before the spawn."""
    home = data_home or tempfile.mkdtemp(prefix="byok-bench-")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *SERVER_COMMAND,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=server_env(home),
        limit=1 << 24,
    )
    client = LspClient(process)
    client.start()
    return client, started


def loopback_settings(base_url: str) -> dict[str, Any]:
    """byok settings pointing the chat feature at an OpenAI-compatible loopback server, no key."""
    return {
        "providers": {"local": {"kind": "openai-compatible", "baseUrl": base_url}},
        "models": [{"id": "m", "provider": "local"}],
        "features": {"chat": "m"},
    }


def rss_kb(pid: int) -> int:
    """VmRSS of a process, kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
