"""Apply: merge a chat code block into a file with the built-in model; never a user's key or model.

A block that is a unified diff is applied by its hunks (builtin/patch.py); any other block is placed by
the built-in Apply model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import Field

from byok.base.config import CamelModel
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.builtin.answer_blocks import is_diff, parse_answer
from byok.builtin.apply import apply_snippet
from byok.builtin.patch import FilePatch, apply_patch, parse_unified_diff
from byok.core.routing import BUILTIN_MODELS
from byok.workspace.edits import EditApplier, document_edit, span_edit, text_edits, workspace_edit
from byok.workspace.errors import ToolError
from byok.workspace.files import DocumentLookup, read_disk
from byok.workspace.jail import FileJail

MAX_CODE_CHARS = 4_000_000


class ApplyParams(CamelModel):
    uri: str = Field(min_length=1, max_length=4096)
    code: str = Field(max_length=MAX_CODE_CHARS)
    apply: bool = False
    model: Any = None
    """Refused when set: Apply always runs on the built-in model."""


def _single_file_patch(code: str, path: Path) -> FilePatch | None:
    """The patch for `path` when `code` (fenced or not) is a unified diff; None when it is not a diff."""
    blocks = parse_answer(code)
    language, body = (blocks[0].language, blocks[0].code) if len(blocks) == 1 else ("", code)
    if not is_diff(language, body):
        return None
    patches = parse_unified_diff(body, path.name)
    if not patches:
        return None
    mine = [p for p in patches if p.path and (p.path == path.name or str(path).endswith("/" + p.path))]
    if len(mine) == 1 or len(patches) == 1:
        return (mine or patches)[0]
    raise ByokError(
        ErrorCode.BAD_REQUEST,
        f"The diff changes {len(patches)} files and none of them is {path.name}",
        cause="A unified diff passed to Apply names other files than the one to apply it to",
        fix="Apply the diff with byok.composer, or pass the part of the diff for this file",
    )


async def apply_code(
    params: ApplyParams,
    roots: list[Path],
    documents: DocumentLookup | None = None,
    apply_edit: EditApplier | None = None,
) -> dict[str, Any]:
    if params.model is not None and params.model != BUILTIN_MODELS["apply"]:
        raise ByokError(
            ErrorCode.BUILTIN_ONLY,
            "Apply always runs on the built-in model; it cannot use a BYOK model",
            fix="Call byok.apply without `model`",
        )
    jail = FileJail(roots, documents)
    located = jail.locate(params.uri, "uri", edit=True, missing_ok=True)
    document = located.document
    path = located.path
    try:
        original = (
            located.text if located.text is not None else await asyncio.to_thread(read_disk, located.real)
        )
    except ToolError as exc:
        raise ByokError(
            ErrorCode.BAD_REQUEST, str(exc), cause=str(exc), fix="Apply to a UTF-8 text file"
        ) from None
    version = document.version if document else None
    patch = _single_file_patch(params.code, path)
    if patch is not None:
        new_text, unresolved = apply_patch(original or "", patch)
        edits = text_edits(original or "", new_text)
        hunks = len(patch.hunks) - len(unresolved)
    else:
        result = await asyncio.to_thread(
            apply_snippet,
            original or "",
            params.code,
            language_id=document.language_id if document else None,
            path=str(path),
        )
        edits, hunks, unresolved = (
            [span_edit(e, e.new_text) for e in result.edits],
            result.hunks,
            result.unresolved,
        )
    edit = workspace_edit([document_edit(params.uri, version, edits)])
    answer: dict[str, Any] = {
        "edit": edit,
        "model": BUILTIN_MODELS["apply"],
        "hunks": hunks,
        "unresolved": unresolved,
    }
    if params.apply and apply_edit is not None and edits:
        answer["applied"] = await apply_edit(edit)
    return answer
