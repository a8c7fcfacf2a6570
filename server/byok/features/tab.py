"""Tab: ghost-text completion from the built-in model (`textDocument/inlineCompletion`, LSP 3.18), with the
same suggestion as a `textDocument/completion` item for editors without inline completion.

The built-in model learns from open documents and their edits, and from the files beside an opened
document (read through the file jail, off the event loop); it never sends anything anywhere.
"""

from __future__ import annotations

from lsprotocol import types

from byok.base.errors import ByokError
from byok.builtin.tab import Suggestion, TabModel
from byok.workspace.jail import FileJail, uri_to_path

NEARBY_FILES = 20
"""The most files beside an opened document that Tab learns from."""
NEARBY_MAX_BYTES = 512 * 1024
"""Larger files beside it are skipped (generated code, bundles)."""
_NEARBY_SCAN = 200
"""The most directory entries looked at."""


def nearby_files(uri: str, jail: FileJail, skip: frozenset[str]) -> list[tuple[str, str]]:
    """Up to `NEARBY_FILES` files in the folder of `uri` with its extension, as `(uri, text)`: the same
    project's code. Each passes the file jail (workspace folders only, no secrets, no special files);
    a file it refuses, a large one and the uris in `skip` (open documents) are left out."""
    try:
        path = uri_to_path(uri)
        entries = sorted(path.parent.iterdir())[:_NEARBY_SCAN] if path.suffix else []
    except (ByokError, OSError):
        return []
    found: list[tuple[str, str]] = []
    for sibling in entries:
        sibling_uri = sibling.as_uri()
        if sibling.suffix != path.suffix or sibling == path or sibling_uri in skip:
            continue
        try:
            located = jail.locate(sibling_uri, "nearby")
            if located.size > NEARBY_MAX_BYTES:
                continue
            found.append((sibling_uri, jail.read(located, "nearby")))
        except ByokError:
            continue
        if len(found) >= NEARBY_FILES:
            break
    return found


def _range(suggestion: Suggestion) -> types.Range:
    return types.Range(
        start=types.Position(line=suggestion.start_line, character=suggestion.start_character),
        end=types.Position(line=suggestion.end_line, character=suggestion.end_character),
    )


def inline_completion(
    model: TabModel, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    """The model's suggestion at the cursor as ghost text, or None."""
    suggestion = model.suggest(params.text_document.uri, params.position.line, params.position.character)
    if suggestion is None:
        return None
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=suggestion.text, range=_range(suggestion))]
    )


def completion(model: TabModel, params: types.CompletionParams) -> types.CompletionList | None:
    """The same suggestion as one preselected completion item, or None."""
    suggestion = model.suggest(params.text_document.uri, params.position.line, params.position.character)
    if suggestion is None:
        return None
    item = types.CompletionItem(
        label=suggestion.text.strip() or suggestion.text,
        detail="byok built-in Tab",
        kind=types.CompletionItemKind.Text,
        text_edit=types.TextEdit(range=_range(suggestion), new_text=suggestion.text),
        sort_text="0",
        preselect=True,
    )
    return types.CompletionList(is_incomplete=True, items=[item])
