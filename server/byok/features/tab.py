"""Tab: ghost-text completion from the built-in model (`textDocument/inlineCompletion`, LSP 3.18), with the
same suggestion as a `textDocument/completion` item for editors without inline completion.

The built-in model learns from open documents and their edits; it never sends anything anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from byok.builtin.tab import Suggestion, TabModel

if TYPE_CHECKING:
    from byok.lsp.commands import ByokServer


def _range(suggestion: Suggestion) -> types.Range:
    return types.Range(
        start=types.Position(line=suggestion.start_line, character=suggestion.start_character),
        end=types.Position(line=suggestion.end_line, character=suggestion.end_character),
    )


def register(server: ByokServer) -> None:
    model = TabModel()

    def sync(uri: str) -> None:
        document = server.workspace.text_documents.get(uri)
        if document is not None:
            model.change(uri, document.source)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ByokServer, params: types.DidOpenTextDocumentParams) -> None:
        model.open(params.text_document.uri, params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ByokServer, params: types.DidChangeTextDocumentParams) -> None:
        sync(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ByokServer, params: types.DidCloseTextDocumentParams) -> None:
        model.close(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    def inline_completion(
        ls: ByokServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        suggestion = model.suggest(params.text_document.uri, params.position.line, params.position.character)
        if suggestion is None:
            return None
        return types.InlineCompletionList(
            items=[types.InlineCompletionItem(insert_text=suggestion.text, range=_range(suggestion))]
        )

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    def completion(ls: ByokServer, params: types.CompletionParams) -> types.CompletionList | None:
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
