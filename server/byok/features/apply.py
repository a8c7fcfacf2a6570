"""Apply: merge a chat code block into a file with the built-in model; never a user's key or model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import Field

from byok.base.config import CamelModel
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.builtin.apply import apply_snippet
from byok.core.routing import BUILTIN_MODELS
from byok.workspace.edits import EditApplier, document_edit, span_edit, workspace_edit
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
    document = documents(params.uri) if documents else None
    path = located.path
    try:
        original = (
            located.text if located.text is not None else await asyncio.to_thread(read_disk, located.real)
        )
    except ToolError as exc:
        raise ByokError(
            ErrorCode.BAD_REQUEST, str(exc), cause=str(exc), fix="Apply to a UTF-8 text file"
        ) from None
    result = await asyncio.to_thread(
        apply_snippet,
        original or "",
        params.code,
        language_id=document.language_id if document else None,
        path=str(path),
    )
    version = document.version if document else None
    edit = workspace_edit(
        [document_edit(params.uri, version, [span_edit(e, e.new_text) for e in result.edits])]
    )
    answer: dict[str, Any] = {
        "edit": edit,
        "model": BUILTIN_MODELS["apply"],
        "hunks": result.hunks,
        "unresolved": result.unresolved,
    }
    if params.apply and apply_edit is not None and result.edits:
        answer["applied"] = await apply_edit(edit)
    return answer
