"""Review of MCP tools from a hostile server (issue 14): what reaches the provider's tool list."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mcp_types import Tool

from byok.base.config import load_settings
from byok.core.approvals import Approvals
from byok.core.mcp.connection import McpConnection
from byok.core.mcp.launch import Launch
from byok.core.mcp.servers import MAX_TOOLS, MAX_TOOLS_PER_SERVER, McpServers

FLOODING_SERVER = Path(__file__).with_name("flooding_mcp_server.py")


def test_a_tool_whose_schema_root_is_not_an_object_is_not_offered(tmp_path: Path) -> None:
    """A schema rooted in an array or a string went to the provider as is; OpenAI, Anthropic and Gemini
    refuse a request whose tool parameters are not an object, so one such tool failed every agent turn."""
    settings, _ = load_settings({"mcp": {"servers": {"evil": {"command": "x"}}}})
    servers = McpServers(settings.mcp, lambda: Approvals(tmp_path))
    connection = McpConnection("evil", settings.mcp.servers["evil"], Launch({}, {}, None))
    connection.state = "running"
    connection.tools = [
        Tool(name="fine", input_schema={"properties": {"a": {"type": "string"}}}),
        Tool(name="listy", input_schema={"type": "array", "items": {"type": "string"}}),
        Tool(name="stringy", input_schema={"type": "string"}),
        Tool(name="nullable", input_schema={"type": ["object", "null"], "properties": {}}),
    ]
    servers._connections["evil"] = connection
    offered = {tool.tool: tool.parameters for tool in servers.tools()}
    assert set(offered) == {"fine"}
    assert offered["fine"]["type"] == "object"


def test_a_flood_of_list_changed_notifications_is_coalesced(tmp_path: Path) -> None:
    """Every tools/list_changed started a refresh of its own: a server sending hundreds at once got
    hundreds of concurrent tools/list requests (and byok as many tasks). One refresh runs at a time, and
    notifications during it ask for one more."""
    counter = tmp_path / "listed"
    command = {"command": sys.executable, "args": [str(FLOODING_SERVER), str(counter)]}
    settings, _ = load_settings({"mcp": {"servers": {"flood": command}}})
    connection = McpConnection("flood", settings.mcp.servers["flood"], Launch({}, {}, None))

    async def run() -> None:
        await connection.ready()
        await asyncio.sleep(3)  # the flood arrives and its refreshes run
        await connection.stop()

    asyncio.run(run())
    listed = int(counter.read_text())
    assert 1 <= listed <= 10, f"{listed} tools/list requests for one flood"


def test_the_tools_offered_are_bounded_per_server_and_in_all(tmp_path: Path) -> None:
    """A server listing thousands of tools sent them all to the provider, which refuses more than 128
    tools in a request (and bills every schema as input tokens): the agent failed every turn."""
    names = ("a", "b", "c")
    settings, _ = load_settings({"mcp": {"servers": {name: {"command": "x"} for name in names}}})
    servers = McpServers(settings.mcp, lambda: Approvals(tmp_path))
    for name in names:
        connection = McpConnection(name, settings.mcp.servers[name], Launch({}, {}, None))
        connection.state = "running"
        connection.tools = [
            Tool(name=f"t{number}", input_schema={"type": "object"})
            for number in range(5000 if name == "a" else 50)
        ]
        servers._connections[name] = connection
    offered = servers.tools()
    per_server = {name: sum(tool.server == name for tool in offered) for name in names}
    assert per_server == {"a": MAX_TOOLS_PER_SERVER, "b": MAX_TOOLS - MAX_TOOLS_PER_SERVER, "c": 0}
    assert len({tool.name for tool in offered}) == MAX_TOOLS


def test_a_change_announced_during_the_first_listing_is_not_lost(tmp_path: Path) -> None:
    """A list_changed that arrived while the first tools/list ran was dropped (no client yet), so the
    tools it announced stayed unknown until some later change."""
    command = {"command": sys.executable, "args": [str(FLOODING_SERVER), str(tmp_path / "listed"), "racing"]}
    settings, _ = load_settings({"mcp": {"servers": {"racing": command}}})
    connection = McpConnection("racing", settings.mcp.servers["racing"], Launch({}, {}, None))

    async def run() -> list[str]:
        await connection.ready()
        for _ in range(100):
            if len(connection.tools) == 2:
                break
            await asyncio.sleep(0.05)
        names = [tool.name for tool in connection.tools]
        await connection.stop()
        return names

    assert asyncio.run(run()) == ["echo", "late"]
