"""Tab: ghost-text completion from the built-in model (`textDocument/inlineCompletion`, LSP 3.18), with the
same suggestion as a `textDocument/completion` item for editors without inline completion.

The built-in model learns from open documents and their edits; it never sends anything anywhere.
"""

from __future__ import annotations

from lsprotocol import types

from byok.builtin.tab import Suggestion, TabModel


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
