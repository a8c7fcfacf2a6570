"""The user's MCP servers: one connection each, started after the user approved its command line once, and
their tools under names every provider accepts (`mcp__<server>__<tool>`, at most 64 of `[A-Za-z0-9_-]`)."""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from byok.base.config import McpServerSettings, McpSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.mcp.connection import McpConnection
from byok.core.mcp.launch import approval_key, literal_launch, resolve_launch, start_question
from byok.core.mcp.results import resource_text, tool_result_text
from byok.workspace.changes import Chooser
from byok.workspace.shell import kill_group

if TYPE_CHECKING:
    from byok.core.approvals import Approvals

log = logging.getLogger("byok.mcp")

START, DONT_START = "Start", "Don't start"
TOOL_PREFIX = "mcp__"
MAX_TOOL_NAME = 64
MAX_DESCRIPTION_CHARS = 2000
MAX_SCHEMA_CHARS = 64 * 1024
"""A tool whose input schema is larger than this (as JSON) is not offered."""
MAX_TOOLS_PER_SERVER = 64
MAX_TOOLS = 100
"""Tools offered to the model in all: OpenAI refuses more than 128 per request, and byok's own come too."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class McpTool:
    """One MCP tool as offered to the model."""

    name: str
    """The model-facing name: `mcp__<server>__<tool>`, sanitised, unique, at most 64 characters."""
    server: str
    tool: str
    """The tool's own name on its server."""
    description: str
    parameters: dict[str, Any]
    read_only: bool
    """The server marks it `readOnlyHint` (a hint: it still asks before running unless auto-approved)."""


def tool_name(server: str, tool: str, taken: set[str]) -> str:
    """`mcp__<server>__<tool>` with other characters as `_`; a hash suffix when too long or already taken."""
    name = _UNSAFE.sub("_", f"{TOOL_PREFIX}{server}__{tool}")
    if len(name) <= MAX_TOOL_NAME and name not in taken:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()
    for length in range(8, len(digest) + 1):
        candidate = f"{name[: MAX_TOOL_NAME - length - 1]}_{digest[:length]}"
        if candidate not in taken:
            return candidate
    raise ValueError(f"no unique name for {server}/{tool}")


def _object_schema(schema: Any) -> dict[str, Any] | None:
    """The tool's input schema with an object root, as every provider requires; None when its root is
    something else (an array, a string, a list of types): no provider accepts such a tool."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    rooted: dict[str, Any] = dict(schema)
    rooted.setdefault("type", "object")
    if rooted["type"] != "object":
        return None
    rooted.setdefault("properties", {})
    return rooted


class McpServers:
    """Every server in `mcp.servers`; a server whose settings change is stopped and replaced."""

    def __init__(
        self,
        settings: McpSettings,
        approvals: Callable[[], Approvals],
        *,
        handed_over: frozenset[str] = frozenset(),
    ) -> None:
        self.settings = settings
        self._approvals = approvals
        self.handed_over = handed_over
        """Servers an ACP client handed over for its session (the user's editor configured them): started
        without the first-start ask, their env and header values taken literally (no secret references)."""
        self._connections: dict[str, McpConnection] = {}
        self._refused: set[str] = set()
        """Approval keys the user answered "Don't start" to in this session: not asked again until a restart."""
        self._ask_lock = asyncio.Lock()
        self._groups: set[int] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._stopping: set[asyncio.Task[None]] = set()
        self._unresolved: dict[str, str] = {}
        """Why an approved server could not start: a secret reference without a value."""
        atexit.register(self._kill_all)

    def configure(self, settings: McpSettings) -> None:
        """New settings: servers removed or changed stop (in the background); the others keep running."""
        self.settings = settings
        for name, connection in list(self._connections.items()):
            if settings.servers.get(name) != connection.settings:
                del self._connections[name]
                stopping = asyncio.get_running_loop().create_task(connection.stop())
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)

    async def aclose(self) -> None:
        """Stop every server and its processes."""
        for task in list(self._starting):
            task.cancel()
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(c.stop() for c in connections), *self._stopping, return_exceptions=True)
        self._kill_all()
        atexit.unregister(self._kill_all)  # an ACP agent makes one of these per session

    def _kill_all(self) -> None:
        for connection in self._connections.values():
            self._groups |= connection.groups
        for pgid in self._groups:
            kill_group(pgid)

    def _is_approved(self, settings: McpServerSettings, root: Path | None) -> bool:
        from byok.core.approvals import GLOBAL_SCOPE

        return self._approvals().approved(GLOBAL_SCOPE, approval_key(settings, root))

    def start_in_background(self, choose: Chooser | None, root: Path | None) -> None:
        """`start` without waiting for it (`mcp.startOnLaunch`); the task is held until it ends."""
        task = asyncio.get_running_loop().create_task(self.start(choose, root))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def start(self, choose: Chooser | None, root: Path | None) -> None:
        """Start every enabled server that is not running, asking the user first (one question at a time)
        for a command line or URL not approved before; then wait until each runs or fails."""

        started: list[McpConnection] = []
        for name, settings in self.settings.servers.items():
            if not settings.enabled:
                continue
            async with self._ask_lock:  # one question at a time, and one connection per server
                connection = self._connections.get(name) or await self._approve(name, settings, choose, root)
            if connection is not None:
                connection.start()
                started.append(connection)
        await asyncio.gather(*(self._settle(c) for c in started))

    async def _approve(
        self, name: str, settings: McpServerSettings, choose: Chooser | None, root: Path | None
    ) -> McpConnection | None:
        """A connection for a server the user approved (now or before); None when not approved or its
        secret references cannot be resolved (logged)."""
        from byok.core.approvals import GLOBAL_SCOPE

        key = approval_key(settings, root)
        if key in self._refused:
            return None
        if name in self.handed_over:
            connection = self._connections[name] = McpConnection(
                name, settings, literal_launch(settings, root)
            )
            return connection
        if not await asyncio.to_thread(self._is_approved, settings, root):
            answer = (
                await choose(start_question(name, settings, root), (START, DONT_START)) if choose else None
            )
            if answer != START:
                if answer is not None:
                    self._refused.add(key)
                return None
            await asyncio.to_thread(self._approvals().remember, GLOBAL_SCOPE, key)
        try:
            launch = resolve_launch(name, settings, root)
        except ByokError as exc:
            log.warning("MCP server %s not started: %s", name, exc.message)
            self._unresolved[name] = exc.message
            return None
        self._unresolved.pop(name, None)
        connection = self._connections[name] = McpConnection(name, settings, launch)
        return connection

    @staticmethod
    async def _settle(connection: McpConnection) -> None:
        try:
            await connection.ready()
        except ByokError:
            return  # its state and error say why; the agent goes on without its tools

    def tools(self) -> list[McpTool]:
        """The running servers' tools, named for the model, in a stable order."""
        offered: list[McpTool] = []
        taken: set[str] = set()
        for server, connection in sorted(self._connections.items()):
            if connection.state != "running":
                continue
            room = min(MAX_TOOLS_PER_SERVER, MAX_TOOLS - len(offered))
            if len(connection.tools) > room:
                log.warning(
                    "MCP server %r offers %d tools: only the first %d are offered to the model",
                    server,
                    len(connection.tools),
                    room,
                )
            for tool in connection.tools[:room]:
                parameters = _object_schema(tool.input_schema)
                if parameters is None:
                    log.warning(
                        "MCP tool %r of %r not offered: its input schema is not an object", tool.name, server
                    )
                    continue
                if len(json.dumps(parameters)) > MAX_SCHEMA_CHARS:
                    log.warning(
                        "MCP tool %r of %r not offered: its input schema is too large", tool.name, server
                    )
                    continue
                name = tool_name(server, tool.name, taken)
                taken.add(name)
                description = (tool.description or tool.title or tool.name)[:MAX_DESCRIPTION_CHARS]
                offered.append(
                    McpTool(
                        name,
                        server,
                        tool.name,
                        f"[MCP server {server}] {description}",
                        parameters,
                        bool(tool.annotations and tool.annotations.read_only_hint),
                    )
                )
        return offered

    def auto_approves(self, tool: McpTool) -> bool:
        settings = self.settings.servers.get(tool.server)
        return settings is not None and settings.auto_approves(tool.tool)

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run the tool: its result as text for the model and whether it is an error."""
        result = await self._connection(tool.server).call_tool(tool.tool, arguments)
        return tool_result_text(result, self.settings.max_result_bytes), result.is_error

    async def read_resource(self, server: str, uri: str, choose: Chooser | None, root: Path | None) -> str:
        """A resource's contents as text, starting the server first when it is approved (or the user approves)."""
        if server not in self.settings.servers:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"There is no MCP server named {server!r}",
                fix="Add it to byok.mcp.servers, or fix the mcp:// entry",
            )
        if server not in self._connections:
            await self.start(choose, root)
        result = await self._connection(server).read_resource(uri)
        return resource_text(result, self.settings.max_result_bytes)

    def _connection(self, server: str) -> McpConnection:
        connection = self._connections.get(server)
        if connection is None:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"MCP server {server!r} is not running",
                fix="Approve its start when asked, or see byok.mcpStatus",
            )
        return connection

    def identity(self, server: str, root: Path | None) -> str:
        """A short hash of what the server named `server` is (command line and folder, or URL): an approval
        given to one server never carries over to another that takes its name."""
        settings = self.settings.servers.get(server)
        key = approval_key(settings, root) if settings is not None else f"unknown:{server}"
        return key.removeprefix("mcp-start:")[:16]

    def status(self, root: Path | None) -> list[dict[str, Any]]:
        """Each configured server: transport, state, tools, resources and the last error."""
        servers = []
        for name, settings in self.settings.servers.items():
            connection = self._connections.get(name)
            entry: dict[str, Any] = {"name": name, "transport": settings.transport}
            if connection is not None:
                entry |= {
                    "transport": connection.transport,
                    "state": connection.state,
                    "tools": [{"name": t.name, "description": t.description or ""} for t in connection.tools],
                    "resources": [{"uri": r.uri, "name": r.name} for r in connection.resources],
                }
                if connection.error:
                    entry["error"] = connection.error
            else:
                if not settings.enabled:
                    state = "disabled"
                elif name in self._unresolved:
                    state, entry["error"] = "failed", self._unresolved[name]
                elif approval_key(settings, root) in self._refused or not self._is_approved(settings, root):
                    state = "not approved"
                else:
                    state = "stopped"
                entry |= {"state": state, "tools": [], "resources": []}
            servers.append(entry)
        return servers
