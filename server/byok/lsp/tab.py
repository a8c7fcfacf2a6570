"""Tab's document and completion handlers, declared at start; its engine is imported when the first document opens.

Over stdio pipes these messages are served by Tab's lane (lsp/tab_lane.py), on its own thread; the pygls
handlers registered here serve them on the event loop otherwise (TCP, or stdio that is not a pipe). Both
call the same `TabService`.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

from byok.lsp.commands import ByokServer

if TYPE_CHECKING:
    from byok.builtin.tab import TabModel

ModelJob = Callable[[], None]


class TabService:
    """The Tab model, created on first use and seeded with the documents the editor already has open, and
    what Tab does with each document change and request.

    One thread at a time uses the model: Tab's lane when there is one, the event loop otherwise. Work that
    starts elsewhere (learning the files beside an opened document, read in a background thread) reaches
    the model through `post`.
    """

    def __init__(self, server: ByokServer) -> None:
        self.server = server
        self._model: TabModel | None = None
        self.post: Callable[[ModelJob], None] | None = None
        """Runs a job on the model's thread; None: on the event loop (set by Tab's lane when it starts)."""

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model(self) -> TabModel:
        if self._model is None:
            from byok.builtin.tab import TabModel  # imported on first use, not on the way to `initialize`

            model = TabModel()
            with self.server.documents_lock:
                documents = [  # under the URI as the editor sent it (pygls' keys are unquoted): Tab's key
                    (document.uri, document.source)
                    for document in self.server.workspace.text_documents.values()
                ]
            for uri, text in documents:
                model.open(uri, text)
            self._model = model
            gc.freeze()  # the Tab engine and its indexes, long-lived too: see `_import_handlers_in_background`
        return self._model

    def opened(self, uri: str, text: str) -> None:
        self.model().open(uri, text)
        self._learn_nearby(uri)

    def changed(self, uri: str, text: str, *, same_head: int = 0, same_tail: int = 0) -> None:
        """The document's new text; `same_head`/`same_tail`: see `TabModel.change`."""
        self.model().change(uri, text, same_head=same_head, same_tail=same_tail)

    def closed(self, uri: str) -> None:
        if self.loaded:
            self.model().close(uri)

    def inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
        from byok.features import tab

        return tab.inline_completion(self.model(), params)

    def completion(self, params: types.CompletionParams) -> types.CompletionList | None:
        from byok.features import tab

        return tab.completion(self.model(), params)

    def _learn_nearby(self, uri: str) -> None:
        """Learn from the files beside a newly opened document: read in a background thread, learnt on the
        model's thread."""
        from byok.features import tab  # loaded with the model
        from byok.lsp.client import workspace_roots
        from byok.workspace.jail import FileJail

        model, jail, skip = self.model(), FileJail(workspace_roots(self.server)), self.model().open_uris()
        post = self.post or asyncio.get_running_loop().call_soon_threadsafe

        def learn(files: list[tuple[str, str]]) -> None:
            for nearby_uri, text in files:
                model.learn(nearby_uri, text)

        def read() -> None:
            files = tab.nearby_files(uri, jail, skip)
            if files:
                post(lambda: learn(files))

        threading.Thread(target=read, name="byok-tab-nearby", daemon=True).start()


def register_tab(server: ByokServer) -> TabService:
    """Tab learns from open documents and their edits, and answers inline completion and completion.

    These handlers run after pygls has applied the change to its workspace (event-loop mode only).
    """
    service = TabService(server)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ByokServer, params: types.DidOpenTextDocumentParams) -> None:
        service.opened(params.text_document.uri, params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ByokServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        service.changed(uri, server.workspace.get_text_document(uri).source)  # pygls has applied the change

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ByokServer, params: types.DidCloseTextDocumentParams) -> None:
        service.closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    def inline_completion(
        ls: ByokServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        return service.inline_completion(params)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    def completion(ls: ByokServer, params: types.CompletionParams) -> types.CompletionList | None:
        return service.completion(params)

    return service
