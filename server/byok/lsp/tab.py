"""Tab's document and completion handlers, declared at start; its engine is imported when the first document opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from byok.lsp.commands import ByokServer

if TYPE_CHECKING:
    from byok.builtin.tab import TabModel


class TabEngine:
    """The Tab model, created on first use and seeded with the documents the editor already has open."""

    def __init__(self, server: ByokServer) -> None:
        self.server = server
        self._model: TabModel | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> TabModel:
        if self._model is None:
            from byok.builtin.tab import TabModel  # imported on first use, not on the way to `initialize`

            model = TabModel()
            for uri, document in list(self.server.workspace.text_documents.items()):
                model.open(uri, document.source)
            self._model = model
        return self._model


def register_tab(server: ByokServer) -> TabEngine:
    """Tab learns from open documents and their edits, and answers inline completion and completion."""
    engine = TabEngine(server)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ByokServer, params: types.DidOpenTextDocumentParams) -> None:
        from byok.features import tab  # loaded with the model
        from byok.lsp.client import workspace_roots
        from byok.workspace.jail import FileJail

        model = engine.model()
        model.open(params.text_document.uri, params.text_document.text)
        jail = FileJail(workspace_roots(server))
        server.backend.in_background(tab.learn_nearby(model, params.text_document.uri, jail))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ByokServer, params: types.DidChangeTextDocumentParams) -> None:
        document = server.workspace.text_documents.get(params.text_document.uri)
        if document is not None:
            engine.model().change(params.text_document.uri, document.source)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ByokServer, params: types.DidCloseTextDocumentParams) -> None:
        if engine.loaded:
            engine.model().close(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    def inline_completion(
        ls: ByokServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        from byok.features import tab

        return tab.inline_completion(engine.model(), params)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    def completion(ls: ByokServer, params: types.CompletionParams) -> types.CompletionList | None:
        from byok.features import tab

        return tab.completion(engine.model(), params)

    return engine
