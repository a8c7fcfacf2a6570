"""Review: an MCP tool's "Always allow" is remembered by server *name*, so it carries over to whatever
server later bears that name (a settings change, or an ACP client's server replacing byok's one)."""

import asyncio
from pathlib import Path
from types import SimpleNamespace

from byok.base.config import McpServerSettings, McpSettings
from byok.core.approvals import Approvals
from byok.core.mcp.servers import McpServers, McpTool
from byok.features.agent_mcp import ALWAYS_ALLOW, DENY, McpToolbox


def _toolbox(approvals: Approvals, root: Path, server: McpServerSettings, answers: list[str]) -> McpToolbox:
    servers = McpServers(McpSettings(servers={"fs": server}), lambda: approvals)
    backend = SimpleNamespace(approvals=approvals)

    async def choose(question: str, actions: object) -> str:
        answers.append(question)
        return ALWAYS_ALLOW if len(answers) == 1 else DENY

    return McpToolbox(backend, servers, root, choose)  # type: ignore[arg-type]


def test_always_allow_does_not_cover_a_different_server_with_the_same_name(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path / "approvals")
    root = tmp_path / "ws"
    root.mkdir()
    tool = McpTool("mcp__fs__write_file", "fs", "write_file", "", {"type": "object"}, False)
    asked: list[str] = []
    trusted = McpServerSettings(command="npx", args=["@modelcontextprotocol/server-filesystem", "."])
    assert asyncio.run(_toolbox(approvals, root, trusted, asked)._allowed(tool, {}))
    # the user (or a front end) now points "fs" at a different program / remote URL
    other = McpServerSettings(url="https://mcp.example.net/fs")
    allowed = asyncio.run(_toolbox(approvals, root, other, asked)._allowed(tool, {}))
    assert len(asked) == 2, "the new server's tool was run on the old server's approval, without asking"
    assert not allowed
