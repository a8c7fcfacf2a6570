"""One MCP server's connection through the SDK's `Client`: started on demand, restarted after a crash with a
bounded backoff, stopped with byok together with every process the server started (its process group).

The SDK's context managers must be entered and left in one task, so each server runs in a task of its own
(`_run`); tool calls and resource reads from other tasks go through the connected `Client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal

from byok import __version__
from byok.base.config import McpServerSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import redact
from byok.core.mcp.launch import Launch
from byok.providers.urls import require_secure
from byok.workspace.shell import (
    kill_group,
)

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client import IncomingMessage, Transport
    from mcp_types import CallToolResult, ReadResourceResult, Resource, Tool

log = logging.getLogger("byok.mcp")

State = Literal["stopped", "starting", "running", "failed"]
MAX_RESTARTS = 5
"""Consecutive failed starts (or crashes) after which a server stays `failed` until its settings change."""
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_S = 300.0
"""A server that ran this long before crashing starts its restart count afresh."""
MAX_PAGES = 100
"""Pages of tools/list or resources/list read; a server that never stops paginating is cut there."""
STDERR_LINE_CHARS = 2000


def _describe(exc: BaseException) -> str:
    """One line saying why a start failed, from the SDK's or the OS's exception (groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, ByokError):
        return exc.message
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename}"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {message}")[:500]


def _start_errors() -> tuple[type[BaseException], ...]:
    """What a server that cannot start raises through the SDK: OS errors (spawn, connect), protocol and HTTP
    errors, malformed answers, transport teardown, and groups of these from the SDK's task groups."""
    import anyio
    import httpx2
    from mcp.shared.exceptions import MCPError
    from pydantic import ValidationError

    return (
        OSError,
        MCPError,
        httpx2.HTTPError,
        ValidationError,
        ValueError,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        anyio.EndOfStream,
        ByokError,
    )


def _expected(exc: BaseException) -> bool:
    """Whether `exc` (every exception of a group, as the SDK's task groups raise them) is a server's failure
    rather than a bug of ours."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_expected(inner) for inner in exc.exceptions)
    return isinstance(exc, _start_errors())


def _child_with_stderr(inode: int) -> int | None:
    """The pid of our child process whose stderr is the pipe `inode` (Linux /proc), or None."""
    me, target = os.getpid(), f"pipe:[{inode}]"
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                if ppid == me and os.readlink(f"/proc/{entry.name}/fd/2") == target:
                    return int(entry.name)
            except (OSError, ValueError, IndexError):
                continue
    return None


class McpConnection:
    """One configured server and what it offers (tools, resources) while it runs."""

    def __init__(self, name: str, settings: McpServerSettings, launch: Launch) -> None:
        self.name = name
        self.settings = settings
        self.launch = launch
        self.state: State = "stopped"
        self.error: str | None = None
        self.transport: str = settings.transport
        self.tools: list[Tool] = []
        self.resources: list[Resource] = []
        self.on_tools_changed: Callable[[], None] = lambda: None
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event = asyncio.Event()
        """Set whenever the state changes: `ready()` waits on it."""
        self._lost = asyncio.Event()
        self._stopping = False
        self._restarting = False
        self._groups: set[int] = set()
        self._chores: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None
        """The one refresh after `list_changed` notifications; `_refresh_again` asks it for one more."""
        self._refresh_again = False
        self._http_kind: Literal["http", "sse"] | None = None

    @property
    def groups(self) -> set[int]:
        """Process groups of the running server (stdio), for a last kill at exit."""
        return self._groups

    def start(self) -> None:
        """Start the server's task unless it runs (or gave up: a failed server waits for new settings)."""
        if self._task is None and not self._stopping:
            self._set("starting")
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp:{self.name}")

    async def ready(self) -> Client:
        """The connected client, after starting the server if needed; ByokError(mcp_unavailable) otherwise."""
        self.start()
        while self.state == "starting" and not self._restarting:
            self._changed.clear()
            await self._changed.wait()
        if self.state != "running" or self._client is None:
            reason = self.error or f"it is {self.state}"
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"MCP server {self.name!r} is not available: {reason}",
                fix="See byok.mcpStatus and the log; fix byok.mcp.servers." + self.name,
            )
        return self._client

    async def stop(self) -> None:
        """Stop the server and every process of its group; waits for the SDK's bounded shutdown."""
        self._stopping = True
        self._lost.set()
        for chore in list(self._chores):
            chore.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        for pgid in list(self._groups):
            kill_group(pgid)
        self._groups.clear()

    def _set(self, state: State, error: str | None = None) -> None:
        self.state = state
        if error is not None or state == "running":
            self.error = error
        self._changed.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            self._lost.clear()
            started = loop.time()
            try:
                await self._serve()
            except Exception as exc:
                if not _expected(exc):  # a bug of ours: said as one, and the server is given up
                    log.exception("MCP server %s: unexpected error", self.name)
                    self._set("failed", f"internal error {type(exc).__name__} (see the log)")
                    return
                self.error = _describe(exc)
                log.warning("MCP server %s: %s", self.name, self.error)
            finally:
                self._client = None
                for pgid in list(self._groups):
                    kill_group(pgid)
                self._groups.clear()
            if self._stopping:
                break
            failures = 1 if loop.time() - started > HEALTHY_S else failures + 1
            if failures > MAX_RESTARTS:
                self._set("failed", f"{self.error or 'it stopped'} (gave up after {MAX_RESTARTS} restarts)")
                return
            delay = min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S)
            self._restarting = True
            self._set("starting", f"{self.error or 'it stopped'}; restarting in {delay:g} s")
            await asyncio.sleep(delay)
            self._restarting = False
        self._set("stopped")

    async def _serve(self) -> None:
        """Connect (stdio, or streamable HTTP falling back to legacy SSE), then serve until lost or stopped."""
        if self.settings.url is None:
            await self._serve_with("stdio")
            return
        if self.settings.headers:
            require_secure(self.settings.url, f"mcp server {self.name}")
        kinds: list[Literal["http", "sse"]] = [self._http_kind] if self._http_kind else ["http", "sse"]
        for index, kind in enumerate(kinds):
            try:
                await self._serve_with(kind)
                return
            except Exception as exc:
                if not _expected(exc) or self.state == "running" or index == len(kinds) - 1:
                    raise
                log.info("MCP server %s: streamable HTTP failed (%s); trying SSE", self.name, _describe(exc))

    async def _serve_with(self, kind: Literal["stdio", "http", "sse"]) -> None:
        import anyio
        from mcp import Client
        from mcp_types import Implementation

        timeout_s = self.settings.timeout_s
        async with AsyncExitStack() as stack:
            transport, spawned = await self._transport(kind, stack)
            client = Client(
                transport,
                cache=None,
                read_timeout_seconds=timeout_s,
                message_handler=self._on_message,
                client_info=Implementation(name="byok", version=__version__),
            )
            with anyio.CancelScope(deadline=anyio.current_time() + timeout_s) as deadline:
                async with client:
                    spawned()
                    self._refresh_again = False
                    await self._refresh(client)
                    deadline.deadline = math.inf
                    self._client, self.transport = client, kind
                    if self._refresh_again:  # announced while the first listing ran
                        self._start_refresher(client)
                    if kind != "stdio":
                        self._http_kind = kind
                    self._set("running")
                    log.info("MCP server %s running (%s): %d tools", self.name, kind, len(self.tools))
                    await self._lost.wait()
                    self._client = None
            if deadline.cancelled_caught:
                raise TimeoutError(f"the server did not start within {timeout_s:g} s")
        if not self._stopping:
            raise ConnectionError(self.error or "the server stopped")

    async def _transport(
        self, kind: Literal["stdio", "http", "sse"], stack: AsyncExitStack
    ) -> tuple[Transport, Callable[[], None]]:
        """The SDK transport, and what to do once the server is connected (stdio: find its process group)."""
        if kind == "sse":
            from mcp.client.sse import sse_client

            assert self.settings.url is not None
            headers = dict(self.launch.headers)
            return sse_client(
                self.settings.url, headers=headers, timeout=self.settings.timeout_s
            ), lambda: None
        if kind == "http":
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            assert self.settings.url is not None
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=self.launch.headers, timeout=httpx2.Timeout(self.settings.timeout_s, read=300.0)
                )
            )
            return streamable_http_client(self.settings.url, http_client=http), lambda: None
        from mcp.client.stdio import StdioServerParameters, stdio_client

        read_fd, write_fd = os.pipe()
        errlog = os.fdopen(write_fd, "w")
        stack.callback(errlog.close)
        inode = os.fstat(write_fd).st_ino
        await self._log_stderr(read_fd, stack)
        assert self.settings.command is not None
        params = StdioServerParameters(
            command=self.settings.command,
            args=self.settings.args,
            env=self.launch.env,
            cwd=self.launch.cwd,
        )

        def spawned() -> None:
            pid = _child_with_stderr(inode)
            if pid is not None:
                with contextlib.suppress(OSError):
                    self._groups.add(os.getpgid(pid))
            errlog.close()  # the child holds its copy; EOF on the pipe now means the server is gone

        return stdio_client(params, errlog=errlog), spawned

    async def _log_stderr(self, read_fd: int, stack: AsyncExitStack) -> None:
        """Log the server's stderr line by line (redacted by the log's formatter); EOF means it exited."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**16)
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        stack.callback(transport.close)

        async def relay() -> None:
            pending = b""
            while chunk := await reader.read(2**14):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()[-STDERR_LINE_CHARS * 4 :]
                for line in lines:
                    text = line.decode(errors="replace").rstrip()[:STDERR_LINE_CHARS]
                    if text:
                        log.info("MCP server %s: %s", self.name, text)
            if self._client is not None and not self._stopping:
                self.error = "the server process exited"
                self._lost.set()

        task = loop.create_task(relay())
        stack.push_async_callback(self._finish, task)

    @staticmethod
    async def _finish(task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _refresh(self, client: Client) -> None:
        """Read the server's tools and (if it offers them) resources, every page."""
        tools: list[Tool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools += page.tools
            if not (cursor := page.next_cursor):
                break
        resources: list[Resource] = []
        if client.server_capabilities.resources is not None:
            cursor = None
            for _ in range(MAX_PAGES):
                listed = await client.list_resources(cursor=cursor, cache_mode="refresh")
                resources += listed.resources
                if not (cursor := listed.next_cursor):
                    break
        self.tools, self.resources = tools, resources
        self.on_tools_changed()

    async def _on_message(self, message: IncomingMessage) -> None:
        from mcp_types import ResourceListChangedNotification, ToolListChangedNotification

        if isinstance(message, Exception):
            log.info("MCP server %s: %s", self.name, _describe(message))
        elif isinstance(message, ToolListChangedNotification | ResourceListChangedNotification):
            self._refresh_again = True  # a listing running now may have read the lists before the change
            if self._client is not None:  # else the first listing is running: it looks at the flag after
                self._start_refresher(self._client)

    def _start_refresher(self, client: Client) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_quietly(client))
            self._chores.add(self._refresher)
            self._refresher.add_done_callback(self._chores.discard)

    async def _refresh_quietly(self, client: Client) -> None:
        """Refresh until no change was announced meanwhile: a flood of notifications is a few listings."""
        while self._refresh_again:
            self._refresh_again = False
            try:
                await self._refresh(client)
            except Exception as exc:
                if not _expected(exc):
                    raise
                log.warning("MCP server %s: refreshing its tools failed: %s", self.name, _describe(exc))
                return

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call one tool; a timeout, a crash or a protocol error is ByokError(mcp_unavailable)."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
        from pydantic import ValidationError

        client = await self.ready()
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=self.settings.timeout_s)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self.error = "the connection closed"
                self._lost.set()
                reason = "closed the connection (it may have crashed; it is restarted)"
            elif exc.code == REQUEST_TIMEOUT:
                reason = f"did not answer within {self.settings.timeout_s:g} s (byok.mcp.servers.{self.name}.timeoutS)"
            else:
                reason = f"answered with error {exc.code}: {exc.message}"
            raise ByokError(ErrorCode.MCP_UNAVAILABLE, f"MCP server {self.name!r} {reason}") from None
        except ValidationError:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE, f"MCP server {self.name!r} answered with a malformed result"
            ) from None

    async def read_resource(self, uri: str) -> ReadResourceResult:
        """Read one resource; failures as in `call_tool`."""
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        client = await self.ready()
        try:
            return await client.read_resource(uri, cache_mode="refresh")
        except MCPError as exc:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"MCP server {self.name!r} could not read {uri}: {exc.message}",
            ) from None
        except ValidationError:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE, f"MCP server {self.name!r} answered with a malformed resource"
            ) from None
