"""Composer: one instruction, changes across several files, merged into ONE WorkspaceEdit.

The model is asked for one block per file (`FILE: path` and a fenced code block, or `DELETE: path`), and
the other ways models name files are read too (builtin/answer_blocks.py), unified diffs included; each
block is placed by the built-in Apply model (a diff by its hunks' context), blocks tied to no file are
reported in `unresolved`, and the whole answer becomes one WorkspaceEdit with
`documentChanges`, so the editor shows and undoes it as one change. Blocks for files outside the
workspace (or secret-looking ones) are refused and reported, never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import Field

from byok.base.config import CamelModel, ReasoningSettings, ReviewMode
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.builtin.answer_blocks import AnswerBlock, fits, parse_answer
from byok.builtin.apply import apply_snippet
from byok.builtin.patch import apply_patch, parse_unified_diff
from byok.core.session import Backend
from byok.core.turn import Prompt, StreamSink, run_turn
from byok.features.checkpoints import RunCheckpoint
from byok.features.mcp_context import ResourceReader, read_context
from byok.features.rules import load_rules
from byok.providers.base import Message
from byok.workspace.changes import Changes, FileSummary, PermissionAsker, confirm_runnable_edits
from byok.workspace.edits import EditApplier
from byok.workspace.errors import ToolError
from byok.workspace.files import ContextFile, fenced
from byok.workspace.jail import FileJail, Workspace

MAX_INSTRUCTION_CHARS = 200_000

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
    review: ReviewMode | None = None
    """`preview`: the edit carries change annotations the user confirms; default `composer.review`."""
    stream_id: str | None = Field(default=None, max_length=200)
    reasoning: ReasoningSettings | None = None
    """How hard the model should think; beats the feature's and the model entry's `reasoning`."""


def _display_path(workspace: Workspace, path: str) -> str:
    candidate = Path(path)
    return workspace.relative(candidate) if candidate.is_relative_to(workspace.root) else path


def build_prompt(workspace: Workspace, files: list[ContextFile], instruction: str) -> str:
    shown = "\n\n".join(f"File: {_display_path(workspace, f.path)}\n{fenced(f.text)}" for f in files)
    return (
        f"Workspace root: {workspace.root.name}\n\n"
        + (f"The files:\n\n{shown}\n\n" if files else "")
        + f"Instruction: {instruction}"
    )


@dataclass(slots=True)
class Merged:
    """An answer's blocks placed in memory."""

    changes: Changes
    unresolved: dict[Path, list[str]] = field(default_factory=dict)
    """Per file: the snippet parts or hunks Apply could not place."""
    refused: list[dict[str, str]] = field(default_factory=list)
    untied: list[dict[str, Any]] = field(default_factory=list)
    """Blocks that name no file the answer can be tied to: `{block, language, line, reason}`."""


MAX_UNTIED_BLOCK_CHARS = 2000


def _untied(block: AnswerBlock, reason: str) -> dict[str, Any]:
    code = (
        block.code if len(block.code) <= MAX_UNTIED_BLOCK_CHARS else block.code[:MAX_UNTIED_BLOCK_CHARS] + "…"
    )
    return {"block": code, "language": block.language, "line": block.line, "reason": reason}


def _tie(workspace: Workspace, blocks: list[AnswerBlock], context: list[str]) -> list[AnswerBlock]:
    """Blocks with their paths made workspace-relative where the answer shortened them: a bare `app.py`
    that is not at the workspace root and is the name of exactly one file in context becomes that file; one unnamed code block when exactly
    one file is in context, and it is the answer's only block, is that file's."""
    tied: list[AnswerBlock] = []
    only_unnamed = len(blocks) == 1 and blocks[0].path is None
    for block in blocks:
        path = block.path
        if path is None and only_unnamed and len(context) == 1 and fits(block.language, context[0]):
            path = context[0]
        elif path is not None and "/" not in path and not (workspace.root / path).exists():
            owners = [c for c in context if c.rsplit("/", 1)[-1] == path]
            path = owners[0] if len(owners) == 1 else path
        tied.append(replace(block, path=path))
    return tied


def _place_diff(merged: Merged, workspace: Workspace, block: AnswerBlock) -> None:
    patches = parse_unified_diff(block.code, block.path)
    if not patches:
        merged.untied.append(_untied(block, "a diff without file headers, and no file named before it"))
    for patch in patches:
        target = patch.path
        if target is None:
            merged.untied.append(_untied(block, "a diff that names no file"))
            continue
        try:
            path = workspace.resolve(target)
            current = merged.changes.read(path)
            if patch.new_path is None:
                if current is None:
                    raise ToolError(f"{workspace.relative(path)} does not exist")
                merged.changes.write(path, None)
                continue
            new_text, failed = apply_patch(current or "", patch)
            if failed:
                merged.unresolved.setdefault(path, []).extend(failed)
            if new_text != (current or "") or current is None:
                merged.changes.write(path, new_text)
        except ToolError as exc:
            merged.refused.append({"path": target, "reason": str(exc)})


def _place_code(merged: Merged, workspace: Workspace, block: AnswerBlock, path_text: str) -> None:
    path = workspace.resolve(path_text)
    current = merged.changes.read(path)
    if block.kind == "delete":
        if current is None:
            raise ToolError(f"{workspace.relative(path)} does not exist")
        merged.changes.write(path, None)
    elif current is None:
        merged.changes.write(path, block.code)
    else:
        result = apply_snippet(current, block.code, path=workspace.relative(path))
        if result.unresolved:
            merged.unresolved.setdefault(path, []).extend(result.unresolved)
        if result.edits:
            merged.changes.write(path, result.new_text)


def merge_blocks(workspace: Workspace, blocks: list[AnswerBlock], context: list[str] | None = None) -> Merged:
    """Place every block in memory; `context` holds the workspace-relative paths of the files in context."""
    merged = Merged(Changes(workspace))
    for block in _tie(workspace, blocks, context or []):
        if block.kind == "diff":
            _place_diff(merged, workspace, block)
        elif block.path is None:
            merged.untied.append(_untied(block, "no file named for this code block"))
        else:
            try:
                _place_code(merged, workspace, block, block.path)
            except ToolError as exc:
                merged.refused.append({"path": block.path, "reason": str(exc)})
    return merged


async def composer(
    backend: Backend,
    params: ComposerParams,
    sink: StreamSink,
    workspace: Workspace | None,
    jail: FileJail,
    apply_edit: EditApplier | None = None,
    ask: PermissionAsker | None = None,
    read_resource: ResourceReader | None = None,
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
    files = await read_context(jail, params.files, "files", backend.settings.context.max_bytes, read_resource)
    prompt = build_prompt(workspace, files, params.instruction)
    rules = await load_rules(backend, [workspace.root], [f.path for f in files], sink=sink)
    system_prompt = rules.before(SYSTEM_PROMPT)
    request = Prompt(
        messages=[Message("system", system_prompt), Message("user", prompt)],
        max_tokens=backend.settings.max_output_tokens,
        files=files,
        workspace=workspace.root,
        cache_conversation=False,
        reasoning=params.reasoning,
    )
    turn = await run_turn(backend, routes, request, sink, feature="composer")
    context = [workspace.relative(Path(f.path)) for f in files if Path(f.path).is_relative_to(workspace.root)]
    merged = merge_blocks(workspace, parse_answer(turn.result.text), context)
    changes, unresolved, refused = merged.changes, merged.unresolved, merged.refused
    refused += await confirm_runnable_edits(
        changes, ask, allow_headless=backend.settings.agent.allow_commands, who="byok composer"
    )
    review = params.review or backend.settings.composer.review
    edit = changes.edit(review_by="byok composer" if review == "preview" else None)
    checkpoint = await RunCheckpoint(backend, changes, "composer", params.instruction).record(sink)
    summary = {entry.path: entry for entry in changes.summary()}
    for path, parts in unresolved.items():
        relative = workspace.relative(path)
        entry = summary.setdefault(relative, FileSummary(path.as_uri(), relative, "modify", 0))
        entry.unresolved = parts
    if refused:
        sink.delta("status", "refused: " + "; ".join(f"{r['path']} ({r['reason']})" for r in refused))
    if merged.untied:
        lines = ", ".join(f"line {u['line']} ({u['reason']})" for u in merged.untied)
        sink.delta(
            "status", f"{len(merged.untied)} code block(s) not tied to a file and not applied: {lines}"
        )
    result: dict[str, Any] = {
        "edit": edit,
        "files": [entry.to_wire() for entry in summary.values()],
        "refused": refused,
        "unresolved": merged.untied,
        "text": turn.result.text,
        "checkpoint": checkpoint,
        "model": turn.route.model_id,
        "usage": turn.usage_dict(),
    }
    if turn.result.reasoning:
        result["reasoning"] = turn.result.reasoning
    if params.apply and apply_edit is not None and edit["documentChanges"]:
        result["applied"] = await apply_edit(edit)
    return result
