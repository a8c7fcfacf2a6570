"""The Tab model knows each open document once, under the URI the editor sends (pygls keys its documents by
the unquoted URI: a percent-encoded URI must not leave the model a second, stale copy)."""

from __future__ import annotations

import gc
import threading
from types import SimpleNamespace
from typing import Any, cast

from lsprotocol import types
from pygls.workspace import Workspace

from byok.lsp.tab import TabService

ENCODED = "file:///c%3A/My%20Project/calc.py"


async def test_the_model_seeded_at_first_open_keys_documents_by_the_editors_uri() -> None:
    workspace = Workspace(None)
    server = SimpleNamespace(documents_lock=threading.Lock(), workspace=workspace)
    service = TabService(cast(Any, server))
    item = types.TextDocumentItem(uri=ENCODED, language_id="python", version=1, text="def add(a, b):\n")
    workspace.put_text_document(item)  # as the handlers do, before telling Tab

    service.opened(ENCODED, item.text)
    service.closed(ENCODED)

    assert service.model().open_uris() == frozenset()


def test_building_the_model_takes_it_out_of_the_collectors_sight() -> None:
    """A full collection must not walk the Tab engine and its indexes (it paused Tab answers 25-60 ms)."""
    workspace = Workspace(None)
    item = types.TextDocumentItem(uri="file:///a.py", language_id="python", version=1, text="x = 1\n" * 500)
    workspace.put_text_document(item)
    service = TabService(cast(Any, SimpleNamespace(documents_lock=threading.Lock(), workspace=workspace)))
    gc.unfreeze()
    try:
        model = service.model()
        assert gc.get_freeze_count() > 0
        assert not any(obj is model for obj in gc.get_objects())  # frozen objects are not listed
    finally:
        gc.unfreeze()
