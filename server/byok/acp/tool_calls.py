"""How the agent's tool calls look in an ACP client: kind, title, locations, and their content when done."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from byok.base.display import visible
from byok.workspace.errors import PathRefused
from byok.workspace.jail import Workspace

if TYPE_CHECKING:
    from acp.schema import ToolCallLocation, ToolKind

    from byok.providers.base import ToolCall

MAX_SHOWN_RESULT = 4000
"""Characters of a tool's result shown in the client (the model gets the whole result)."""
KINDS: dict[str, ToolKind] = {
    "read_file": "read",
    "list_files": "search",
    "search": "search",
    "edit_file": "edit",
    "create_file": "edit",
    "run_command": "execute",
}


def kind_of(call: ToolCall) -> ToolKind:
    return KINDS.get(call.name, "other")


def _text(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    return visible(value) if isinstance(value, str) else ""


def title_of(call: ToolCall) -> str:
    """What the client shows for the call: "Read src/app.py", "Run `pytest -q`"."""
    args = call.arguments
    path = _text(args, "path")
    if call.name == "read_file":
        return f"Read {path}"
    if call.name == "list_files":
        return f"List files in {path or '.'}"
    if call.name == "search":
        return f"Search for {_text(args, 'query')[:80]!r}"
    if call.name == "edit_file":
        return f"Edit {path}"
    if call.name == "create_file":
        return f"Create {path}"
    if call.name == "run_command":
        return f"Run `{_text(args, 'command')[:200]}`"
    return f"Call {call.name}"


def path_of(call: ToolCall, workspace: Workspace) -> Path | None:
    """The workspace file the call names, when it names one the jail lets through."""
    raw = call.arguments.get("path")
    if not isinstance(raw, str) or call.name not in ("read_file", "edit_file", "create_file"):
        return None
    try:
        return workspace.resolve(raw)
    except PathRefused:
        return None


def locations_of(call: ToolCall, workspace: Workspace) -> list[ToolCallLocation] | None:
    from acp.schema import ToolCallLocation

    path = path_of(call, workspace)
    if path is None:
        return None
    line = call.arguments.get("start_line")
    return [ToolCallLocation(path=str(path), line=line if isinstance(line, int) and line > 0 else None)]


def shown_result(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_RESULT else text[:MAX_SHOWN_RESULT] + "\n…"
