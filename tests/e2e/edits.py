"""Helpers for the editing features' end-to-end tests: settings, opening documents, applying WorkspaceEdits."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from lsprotocol import types
from lsprotocol.converters import get_converter

from tests.e2e.harness import Session
from tests.fakes import FakeServer

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def settings_for(fake: FakeServer, **extra: Any) -> dict[str, Any]:
    """Providers of every family pointing at the loopback fake."""
    return {
        "providers": {
            "openai": {"baseUrl": f"{fake.url}/v1"},
            "anthropic": {"baseUrl": fake.url},
            "google": {"baseUrl": fake.url},
        },
        **extra,
    }


def path_of(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path))


def open_document(
    session: Session, path: Path, text: str, language_id: str = "python", version: int = 1
) -> str:
    """Send didOpen for `path` with (possibly unsaved) `text`; returns its URI."""
    uri = path.as_uri()
    session.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)
        )
    )
    return uri


def _offset(text: str, line: int, character: int) -> int:
    """The index in `text` of an LSP position (UTF-16 `character`), computed independently of the server."""
    lines = _LINE.findall(text)
    if line >= len(lines):
        return len(text)
    start = sum(len(x) for x in lines[:line])
    body = lines[line].rstrip("\r\n")
    prefix = body.encode("utf-16-le")[: 2 * character].decode("utf-16-le", "strict")
    return start + len(prefix)


def apply_text_edits(text: str, edits: list[dict[str, Any]]) -> str:
    spans = sorted(
        (
            _offset(text, e["range"]["start"]["line"], e["range"]["start"]["character"]),
            _offset(text, e["range"]["end"]["line"], e["range"]["end"]["character"]),
            e["newText"],
        )
        for e in edits
    )
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end <= start, "overlapping edits"
    for start, end, new in reversed(spans):
        text = text[:start] + new + text[end:]
    return text


def apply_workspace_edit(
    edit: dict[str, Any] | types.WorkspaceEdit, texts: dict[str, str] | None = None
) -> None:
    """Apply `documentChanges` to the files on disk as an editor would (open documents' text from `texts`)."""
    raw = get_converter().unstructure(edit) if isinstance(edit, types.WorkspaceEdit) else edit
    assert "changes" not in raw or not raw["changes"], "expected documentChanges only"
    for change in raw["documentChanges"]:
        kind = change.get("kind")
        if kind == "create":
            path = path_of(change["uri"])
            assert not path.exists(), f"CreateFile for existing {path}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        elif kind == "delete":
            path_of(change["uri"]).unlink(missing_ok=True)
        else:
            uri = change["textDocument"]["uri"]
            path = path_of(uri)
            before = (texts or {}).get(uri)
            if before is None:
                before = path.read_bytes().decode("utf-8")
            path.write_bytes(apply_text_edits(before, change["edits"]).encode("utf-8"))
