"""Review: the MCP start approval is remembered globally under the *literal* settings, but a relative `cwd`
is resolved against the workspace root: approving `node server.js` (cwd ".") in one workspace then starts
the server.js of every other workspace opened later, without asking. A workspace file starts a process."""

import asyncio
from pathlib import Path

from byok.base.config import McpServerSettings, McpSettings
from byok.core.approvals import Approvals
from byok.core.mcp.servers import DONT_START, START, McpServers


def test_start_approval_for_a_workspace_relative_server_does_not_cover_other_workspaces(
    tmp_path: Path,
) -> None:
    approvals = Approvals(tmp_path / "approvals")
    trusted, cloned = tmp_path / "trusted", tmp_path / "cloned"
    for root in (trusted, cloned):
        root.mkdir()
        (root / "server.js").write_text("// an MCP server\n")
    settings = McpServerSettings(command="node", args=["server.js"], cwd=".")
    asked: list[str] = []

    async def choose(question: str, actions: object) -> str:
        asked.append(question)
        return START if len(asked) == 1 else DONT_START

    async def approve(root: Path) -> object:
        servers = McpServers(McpSettings(servers={"local": settings}), lambda: approvals)
        return await servers._approve("local", settings, choose, root)

    assert asyncio.run(approve(trusted)) is not None
    connection = asyncio.run(approve(cloned))
    assert len(asked) == 2, "the cloned workspace's server.js would start on the trusted workspace's approval"
    assert connection is None
