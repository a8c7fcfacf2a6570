"""Composer: one instruction, changes across several files, merged into ONE WorkspaceEdit.

The model answers with one block per file (`FILE: path` and a fenced code block, or `DELETE: path`);
each block is placed by the built-in Apply model, and the whole answer becomes one WorkspaceEdit with
`documentChanges`, so the editor shows and undoes it as one change. Blocks for files outside the
workspace (or secret-looking ones) are refused and reported, never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from byok.base.config import CamelModel
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.text import FENCE, closes_fence
from byok.builtin.apply import apply_snippet
from byok.core.session import Backend
from byok.core.turn import Prompt, StreamSink, run_turn
from byok.providers.base import Message
from byok.workspace.changes import Changes, PermissionAsker, confirm_runnable_edits
from byok.workspace.edits import EditApplier
from byok.workspace.errors import ToolError
from byok.workspace.files import ContextFile
from byok.workspace.jail import FileJail, Workspace

MAX_INSTRUCTION_CHARS = 200_000
_HEADER = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*)?\s*(FILE|DELETE)\s*:\s*(.+?)\s*$", re.IGNORECASE)

SYSTEM_PROMPT = """You change code across the files of a workspace. Answer with a short explanation, then \
one block per file you change, create or delete, in exactly this form:

FILE: path/relative/to/the/workspace
```language
the code
```

- For an existing file give the changed parts with enough unchanged lines around each to place it, and \
mark unchanged code you leave out with a comment such as `// ... existing code ...` (or give the whole file).
- For a new file give its whole content.
- To delete a file write the line `DELETE: path` and no code block.
- Use the paths as shown, relative to the workspace root. One block per file. If the code itself \
contains ``` lines, fence it with ```` instead."""


class ComposerParams(CamelModel):
    instruction: str = Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)
    files: list[str] = Field(default_factory=list, max_length=200)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    apply: bool = False
    stream_id: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True, slots=True)
class Block:
    """One file of the model's answer: its path as written, and new code or a deletion."""

    path: str
    action: Literal["write", "delete"]
    code: str = ""


def _clean_path(raw: str) -> str:
    return raw.strip().strip("*`'\" ").removeprefix("./")


def _read_fence(lines: list[str], opening: int, mark: str) -> tuple[str, int]:
    """The code inside the fence opened at line `opening`, and the index of the line after its end."""
    end = next((i for i in range(opening + 1, len(lines)) if closes_fence(lines[i], mark)), len(lines))
    body = lines[opening + 1 : end]
    return ("\n".join(body) + "\n" if body else ""), end + 1


def parse_blocks(answer: str) -> list[Block]:
    """The file blocks of an answer: `FILE: path` + a fence, `DELETE: path`, or a fence with `lang:path`.

    Fences without a path (examples in the explanation) and prose are skipped.
    """
    lines = [line.removesuffix("\r") for line in answer.split("\n")]
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        header, fence = _HEADER.match(lines[i]), FENCE.match(lines[i])
        if header and header[1].upper() == "DELETE":
            blocks.append(Block(_clean_path(header[2]), "delete"))
            i += 1
        elif header:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            opened = FENCE.match(lines[j]) if j < len(lines) else None
            if opened is None:
                i += 1
                continue
            code, i = _read_fence(lines, j, opened[1])
            blocks.append(Block(_clean_path(header[2]), "write", code))
        elif fence:
            info = fence[2].strip()
            code, i = _read_fence(lines, i, fence[1])
            if ":" in info and (path := _clean_path(info.split(":", 1)[1])):
                blocks.append(Block(path, "write", code))
        else:
            i += 1
    return blocks


def _fenced(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}{fence}"


def _display_path(workspace: Workspace, path: str) -> str:
    candidate = Path(path)
    return workspace.relative(candidate) if candidate.is_relative_to(workspace.root) else path


def build_prompt(workspace: Workspace, files: list[ContextFile], instruction: str) -> str:
    shown = "\n\n".join(f"File: {_display_path(workspace, f.path)}\n{_fenced(f.text)}" for f in files)
    return (
        f"Workspace root: {workspace.root.name}\n\n"
        + (f"The files:\n\n{shown}\n\n" if files else "")
        + f"Instruction: {instruction}"
    )


def merge_blocks(
    workspace: Workspace, blocks: list[Block]
) -> tuple[Changes, dict[Path, list[str]], list[dict[str, str]]]:
    """Place every block in memory: the changes, the snippet parts Apply could not place, the refused blocks."""
    changes = Changes(workspace)
    unresolved: dict[Path, list[str]] = {}
    refused: list[dict[str, str]] = []
    for block in blocks:
        try:
            path = workspace.resolve(block.path)
            relative = workspace.relative(path)
            current = changes.read(path)
            if block.action == "delete":
                if current is None:
                    raise ToolError(f"{relative} does not exist")
                changes.write(path, None)
            elif current is None:
                changes.write(path, block.code)
            else:
                result = apply_snippet(current, block.code, path=relative)
                if result.unresolved:
                    unresolved.setdefault(path, []).extend(result.unresolved)
                if result.edits:
                    changes.write(path, result.new_text)
        except ToolError as exc:
            refused.append({"path": block.path, "reason": str(exc)})
    return changes, unresolved, refused


async def composer(
    backend: Backend,
    params: ComposerParams,
    sink: StreamSink,
    workspace: Workspace | None,
    jail: FileJail,
    apply_edit: EditApplier | None = None,
    ask: PermissionAsker | None = None,
) -> dict[str, Any]:
    """Run one Composer request; the WorkspaceEdit is sent to the editor only when `params.apply`."""
    if workspace is None:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            "Composer needs a workspace folder",
            cause="The editor did not send a workspace root, so no file can be changed safely",
            fix="Open a folder, then run Composer again",
        )
    routes = await backend.routes("composer", params.model)
    files = jail.read_context(params.files, "files", backend.settings.context.max_bytes)
    prompt = build_prompt(workspace, files, params.instruction)
    request = Prompt(
        messages=[Message("system", SYSTEM_PROMPT), Message("user", prompt)],
        max_tokens=backend.settings.max_output_tokens,
        files=files,
    )
    turn = await run_turn(backend, routes, request, sink, feature="composer")
    changes, unresolved, refused = merge_blocks(workspace, parse_blocks(turn.result.text))
    refused += await confirm_runnable_edits(
        changes, ask, allow_headless=backend.settings.agent.allow_commands, who="byok composer"
    )
    edit = changes.edit()
    summary = changes.summary()
    changed = {entry["path"] for entry in summary}
    for path, parts in unresolved.items():
        relative = workspace.relative(path)
        if relative not in changed:
            summary.append({"uri": path.as_uri(), "path": relative, "action": "modify", "hunks": 0})
        next(entry for entry in summary if entry["path"] == relative)["unresolved"] = parts
    if refused:
        sink.delta("status", "refused: " + "; ".join(f"{r['path']} ({r['reason']})" for r in refused))
    result: dict[str, Any] = {
        "edit": edit,
        "files": summary,
        "refused": refused,
        "text": turn.result.text,
        "model": turn.route.model_id,
        "usage": turn.usage_dict(),
    }
    if params.apply and apply_edit is not None and edit["documentChanges"]:
        result["applied"] = await apply_edit(edit)
    return result
