"""The agent's MCP tools: offered beside the built-in ones, and run only after the user allowed the call
(unless the server's `autoApprove` names the tool); "Always allow" is remembered for the workspace."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from byok.base.display import visible
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.mcp.servers import McpServers, McpTool
from byok.core.session import Backend
from byok.features.agent_tools import ToolResult
from byok.providers.base import ToolCall, ToolSpec
from byok.workspace.changes import Chooser

ALLOW_ONCE, ALWAYS_ALLOW, DENY = "Allow once", "Always allow", "Deny"
QUESTION_ARGUMENT_CHARS = 1000


class McpToolbox:
    """One agent run's view of the MCP servers: tool specs for each step and asked-for calls."""

    def __init__(self, backend: Backend, servers: McpServers, root: Path, choose: Chooser | None) -> None:
        self.backend = backend
        self.servers = servers
        self.root = root
        self.choose = choose
        self._tools: dict[str, McpTool] = {}
        self._ask_lock = asyncio.Lock()
        """Asks from parallel calls come one at a time."""

    @classmethod
    async def open(
        cls, backend: Backend, root: Path, choose: Chooser | None, servers: McpServers | None = None
    ) -> McpToolbox | None:
        """The run's toolbox after starting the enabled servers (asking to start new ones), or None when
        no MCP server is configured. `servers`: a front end's own set (an ACP session's), else byok's."""
        servers = servers or backend.mcp
        if not servers.settings.servers:
            return None
        await servers.start(choose, root)
        return cls(backend, servers, root, choose)

    def specs(self, *, read_only: bool = False) -> list[ToolSpec]:
        """The tools running servers offer now (a `tools/list_changed` refreshes them between steps); only
        those marked read-only when the front end allows no changes."""
        offered = self.servers.tools()
        self._tools = {tool.name: tool for tool in offered if tool.read_only or not read_only}
        return [
            ToolSpec(tool.name, tool.description, tool.parameters, read_only=tool.read_only)
            for tool in self._tools.values()
        ]

    def handles(self, name: str) -> bool:
        return name in self._tools

    async def _allowed(self, tool: McpTool, arguments: dict[str, Any]) -> bool:
        from byok.core.approvals import workspace_scope

        if self.servers.auto_approves(tool):
            return True
        approvals, scope, key = (
            self.backend.approvals,
            workspace_scope(self.root),
            f"mcp-tool:{tool.server}@{self.servers.identity(tool.server, self.root)}/{tool.tool}",
        )
        if await asyncio.to_thread(approvals.approved, scope, key):
            return True
        if self.choose is None:
            return False
        shown = json.dumps(arguments, ensure_ascii=False)
        if len(shown) > QUESTION_ARGUMENT_CHARS:
            shown = shown[:QUESTION_ARGUMENT_CHARS] + "…"
        question = visible(
            f'byok agent wants to call the tool "{tool.tool}" of MCP server "{tool.server}" with {shown}'
        )
        async with self._ask_lock:
            answer = await self.choose(question, (ALLOW_ONCE, ALWAYS_ALLOW, DENY))
        if answer == ALWAYS_ALLOW:
            await asyncio.to_thread(approvals.remember, scope, key)
        return answer in (ALLOW_ONCE, ALWAYS_ALLOW)

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one MCP tool call; a refusal, timeout or crashed server is a tool error and the run goes on."""
        tool = self._tools[call.name]
        if not await self._allowed(tool, call.arguments):
            return ToolResult(
                f"The user did not allow calling {tool.tool} of MCP server {tool.server}; it was not run.",
                is_error=True,
            )
        try:
            text, is_error = await self.servers.call(tool, call.arguments)
        except ByokError as exc:
            if exc.code != ErrorCode.MCP_UNAVAILABLE:
                raise
            return ToolResult(f"Error: {exc.message}", is_error=True)
        return ToolResult(text, is_error=is_error)
