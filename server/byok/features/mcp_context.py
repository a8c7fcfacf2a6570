"""`files` entries that name an MCP resource (`mcp://<server>/<percent-encoded resource uri>`), read through
the server as context beside the workspace files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.workspace.files import ContextFile
from byok.workspace.jail import FileJail

MCP_SCHEME = "mcp://"
ResourceReader = Callable[[str, str], Awaitable[str]]
"""Reads resource `uri` of MCP server `server` as text (starting the server, after the user's approval)."""


def _resource(entry: str, field: str) -> tuple[str, str]:
    server, _, encoded = entry.removeprefix(MCP_SCHEME).partition("/")
    if not server or not encoded:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"{field}: an MCP resource is mcp://<server>/<percent-encoded resource uri>",
            field=field,
        )
    return server, unquote(encoded)


async def read_context(
    jail: FileJail, entries: Sequence[str], field: str, max_bytes: int, read_resource: ResourceReader | None
) -> list[ContextFile]:
    """The workspace files and MCP resources `entries` name, within `max_bytes` in all."""
    local = [(i, entry) for i, entry in enumerate(entries) if not entry.startswith(MCP_SCHEME)]
    resources: list[ContextFile] = []
    for i, entry in enumerate(entries):
        if not entry.startswith(MCP_SCHEME):
            continue
        server, uri = _resource(entry, f"{field}[{i}]")
        if read_resource is None:
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"{field}[{i}]: MCP resources cannot be read here",
                field=f"{field}[{i}]",
            )
        resources.append(ContextFile(entry, entry, await read_resource(server, uri)))
    return jail.read_context(
        [entry for _, entry in local], field, max_bytes, positions=[i for i, _ in local], also=resources
    )
