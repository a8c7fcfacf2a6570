"""All LSP edit building, as wire dicts: lines and UTF-16 positions, TextEdits, documentChanges, WorkspaceEdits,
and their change annotations for a review before they are applied."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from difflib import SequenceMatcher
from typing import Any, Protocol

from byok.base.text import utf16_len

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
EditApplier = Callable[[dict[str, Any]], Awaitable[bool]]
"""Sends a WorkspaceEdit to the editor; True when the editor applied it."""


class Span(Protocol):
    """Anything carrying an LSP range: 0-based lines, UTF-16 characters."""

    @property
    def start_line(self) -> int: ...
    @property
    def start_character(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def end_character(self) -> int: ...


def lsp_lines(text: str) -> list[str]:
    """The lines of `text` as LSP counts them (`\\n`, `\\r\\n` or `\\r` ends one), terminators kept."""
    return _LINE.findall(text)


def position(line: int, character: int) -> dict[str, int]:
    """An LSP Position."""
    return {"line": line, "character": character}


def text_edit(start: dict[str, int], end: dict[str, int], new_text: str) -> dict[str, Any]:
    """An LSP TextEdit replacing `start`..`end` with `new_text`."""
    return {"range": {"start": start, "end": end}, "newText": new_text}


def span_edit(span: Span, new_text: str) -> dict[str, Any]:
    """An LSP TextEdit replacing `span` with `new_text`."""
    return text_edit(
        position(span.start_line, span.start_character), position(span.end_line, span.end_character), new_text
    )


def document_edit(uri: str, version: int | None, edits: list[dict[str, Any]]) -> dict[str, Any]:
    """An LSP TextDocumentEdit: `edits` to the document `uri` at `version` (None: any version)."""
    return {"textDocument": {"uri": uri, "version": version}, "edits": edits}


def workspace_edit(document_changes: list[dict[str, Any]]) -> dict[str, Any]:
    """An LSP WorkspaceEdit of `documentChanges` entries."""
    return {"documentChanges": document_changes}


def _end_position(lines: list[str]) -> dict[str, int]:
    if not lines or lines[-1].endswith(("\n", "\r")):
        return position(len(lines), 0)
    return position(len(lines) - 1, utf16_len(lines[-1]))


def text_edits(before: str, after: str) -> list[dict[str, Any]]:
    """Minimal line-level LSP TextEdits turning `before` into `after` (UTF-16 positions)."""
    old, new = lsp_lines(before), lsp_lines(after)
    end = _end_position(old)

    def line_start(index: int) -> dict[str, int]:
        return position(index, 0) if index < len(old) else end

    return [
        text_edit(line_start(i1), line_start(i2), "".join(new[j1:j2]))
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
        if tag != "equal"
    ]


def document_changes(
    uri: str, before: str | None, after: str | None, version: int | None
) -> list[dict[str, Any]]:
    """The `documentChanges` entries turning one file from `before` into `after` (None: no such file)."""
    if before == after:
        return []
    if after is None:
        return [{"kind": "delete", "uri": uri, "options": {"ignoreIfNotExists": True}}]
    changes: list[dict[str, Any]] = []
    if before is None:
        changes.append(
            {"kind": "create", "uri": uri, "options": {"overwrite": False, "ignoreIfExists": False}}
        )
        before, version = "", None
    edits = text_edits(before, after)
    if edits:
        changes.append(document_edit(uri, version, edits))
    return changes


def for_review(edit: dict[str, Any], who: str, shown_path: Callable[[str], str]) -> dict[str, Any]:
    """`edit` to be reviewed before it is applied: one change annotation per file, needing confirmation (VS
    Code opens its refactor preview, where each change is accepted or rejected) and labelled with `who`
    changes it and how (`shown_path` turns a file URI into what the label shows); every change carries its
    file's annotation."""
    ids: dict[str, str] = {}
    verbs: dict[str, str] = {}
    counts: dict[str, int] = {}
    annotated: list[dict[str, Any]] = []
    for entry in edit["documentChanges"]:
        uri = entry["textDocument"]["uri"] if "textDocument" in entry else entry["uri"]
        annotation = ids.setdefault(uri, f"byok-{len(ids) + 1}")
        if "textDocument" in entry:
            edits = [{**text_change, "annotationId": annotation} for text_change in entry["edits"]]
            annotated.append({**entry, "edits": edits})
            counts[uri] = counts.get(uri, 0) + len(edits)
        else:
            annotated.append({**entry, "annotationId": annotation})
            verbs[uri] = entry["kind"]  # create or delete
    annotations = {
        annotation: {
            "label": f"{who}: {verbs.get(uri, 'edit')} {shown_path(uri)}",
            "needsConfirmation": True,
            "description": f"{counts[uri]} change(s)" if uri in counts else verbs[uri],
        }
        for uri, annotation in ids.items()
    }
    return {"documentChanges": annotated, "changeAnnotations": annotations}
