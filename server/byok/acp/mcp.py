"""An ACP session's MCP servers: byok's own (`mcp.servers`, asked about before their first start) plus those
the client hands over in `session/new` / `session/load` (the user's editor configured them: no ask)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from byok.base.config import McpServerSettings, McpSettings
from byok.base.redaction import redact
from byok.core.mcp.servers import McpServers
from byok.core.session import Backend

log = logging.getLogger(__name__)


def handed_over_settings(server: Any) -> McpServerSettings | None:
    """byok's settings for one ACP `McpServer` (stdio, http or sse); None when byok cannot run it."""
    kind = getattr(server, "type", None)
    try:
        if kind in ("http", "sse"):
            return McpServerSettings(url=server.url, headers={h.name: h.value for h in server.headers})
        if kind is None and getattr(server, "command", None):
            return McpServerSettings(
                command=server.command, args=list(server.args), env={e.name: e.value for e in server.env}
            )
    except ValidationError as exc:
        log.warning(
            "MCP server %r from the client not used: %s",
            redact(str(server.name))[:100],
            exc.errors()[0]["msg"],
        )
        return None
    log.warning(
        "MCP server %r from the client not used: byok cannot run its transport",
        redact(str(server.name))[:100],
    )
    return None


def session_servers(backend: Backend, handed: list[Any] | None) -> McpServers | None:
    """The session's MCP servers, or None when the client handed over none (byok's own set serves it)."""
    given = {
        str(server.name): settings for server in handed or [] if (settings := handed_over_settings(server))
    }
    if not given:
        return None
    clashes = sorted(set(given) & set(backend.settings.mcp.servers))
    if clashes:
        log.warning("the client's MCP servers %s replace byok's servers of the same name", ", ".join(clashes))
    servers = McpSettings(servers={**backend.settings.mcp.servers, **given})
    return McpServers(servers, lambda: backend.approvals, handed_over=frozenset(given))
