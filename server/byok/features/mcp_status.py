"""`byok.mcpStatus`: the configured MCP servers with their state, tools and resources, and the MCP configs
found in the workspace (reported, never launched: only the user's own settings start a server)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from byok.core.session import Backend
from byok.workspace.errors import PathRefused, ToolError
from byok.workspace.files import read_disk
from byok.workspace.jail import Workspace

WORKSPACE_CONFIGS = {
    ".vscode/mcp.json": "servers",
    ".cursor/mcp.json": "mcpServers",
    ".mcp.json": "mcpServers",
}
"""Where editors keep a workspace's MCP servers, and the key that holds them."""
_COMMENTS = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMAS = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')


def _jsonc(text: str) -> Any:
    """JSON with comments and trailing commas (VS Code's mcp.json), strings left as they are."""
    text = _COMMENTS.sub(lambda m: m.group(1) or "", text)
    text = _TRAILING_COMMAS.sub(lambda m: m.group(1) or m.group(2), text)
    return json.loads(text)


def found_in_workspace(workspace: Workspace) -> list[dict[str, Any]]:
    """Servers in the workspace's MCP configs, as `found` entries naming their file."""
    found: list[dict[str, Any]] = []
    for relative, key in WORKSPACE_CONFIGS.items():
        try:
            text = read_disk(workspace.resolve(relative))
        except (PathRefused, ToolError) as exc:
            found.append(
                {
                    "name": relative,
                    "transport": "unknown",
                    "state": "found",
                    "source": relative,
                    "tools": [],
                    "resources": [],
                    "error": str(exc),
                }
            )
            continue
        if text is None:
            continue
        try:
            servers = _jsonc(text).get(key)
        except (ValueError, AttributeError):
            servers = None
        if not isinstance(servers, dict):
            found.append(
                {
                    "name": relative,
                    "transport": "unknown",
                    "state": "found",
                    "source": relative,
                    "tools": [],
                    "resources": [],
                    "error": f"no `{key}` object could be read",
                }
            )
            continue
        for name, entry in servers.items():
            transport = "stdio" if isinstance(entry, dict) and "command" in entry else "http"
            found.append(
                {
                    "name": str(name),
                    "transport": transport,
                    "state": "found",
                    "source": relative,
                    "tools": [],
                    "resources": [],
                }
            )
    return found


async def mcp_status(backend: Backend, workspace: Workspace | None) -> dict[str, Any]:
    servers = await asyncio.to_thread(backend.mcp.status, workspace.root if workspace else None)
    if workspace is not None:
        servers += await asyncio.to_thread(found_in_workspace, workspace)
    return {"servers": servers}
