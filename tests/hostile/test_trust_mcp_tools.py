"""Review of MCP tools from a hostile server (issue 14): what reaches the provider's tool list."""

from __future__ import annotations

from pathlib import Path

from mcp_types import Tool

from byok.base.config import load_settings
from byok.core.approvals import Approvals
from byok.core.mcp.connection import McpConnection
from byok.core.mcp.launch import Launch
from byok.core.mcp.servers import McpServers


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
