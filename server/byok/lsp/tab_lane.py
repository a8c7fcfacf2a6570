"""Tab's lane: document sync and Tab's requests served on their own thread, so Tab answers while the event
loop is busy (fifty chats streaming keep it ~90 % busy decoding provider streams).

The stdin reader thread (lsp/stdio.py) hands this lane `didOpen`, `didChange`, `didClose`,
`textDocument/inlineCompletion` and `textDocument/completion`, in the order they arrived, and the
`$/cancelRequest` of a Tab request still waiting here. One thread does them one by one, so a Tab answer
always sees every document change sent before its request; it alone changes the open documents (pygls'
workspace) and the Tab model. Code on the event loop that reads open documents takes
`ByokServer.documents_lock`, which this lane holds while it changes them.

Answers follow pygls' single-threaded behaviour: the same results (pygls' own response writer), a
cancelled request answered -32800, nothing answered after `shutdown`, a request before `initialize`
answered -32002.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import TextDocument

from byok.lsp.commands import ByokServer
from byok.lsp.stdio import request_id, send_error, structured
from byok.lsp.tab import ModelJob, TabService

log = logging.getLogger("byok")

REQUEST_CANCELLED, SERVER_NOT_INITIALIZED, INTERNAL_ERROR = -32800, -32002, -32603
STOP_LIMIT_S = 30.0
"""How long shutdown waits for the lane's current job (an import of the Tab engine at most)."""


class TabLane:
    """A worker thread with a FIFO of Tab's messages and of jobs for the Tab model."""

    def __init__(self, server: ByokServer, service: TabService) -> None:
        self.server = server
        self.service = service
        self._jobs: queue.SimpleQueue[ModelJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting: set[int | str] = set()
        self._cancelled: set[int | str] = set()
        # Not a daemon: it imports the Tab engine, and a thread killed inside an import aborts the process.
        self._thread = threading.Thread(target=self._run, name="byok-tab")
        self._handlers: dict[str, Callable[[Any], Any]] = {
            types.TEXT_DOCUMENT_DID_OPEN: self._did_open,
            types.TEXT_DOCUMENT_DID_CHANGE: self._did_change,
            types.TEXT_DOCUMENT_DID_CLOSE: self._did_close,
            types.TEXT_DOCUMENT_INLINE_COMPLETION: service.inline_completion,
            types.TEXT_DOCUMENT_COMPLETION: service.completion,
        }

    def takes(self, method: Any) -> bool:
        """Whether messages of `method` belong to this lane."""
        return method in self._handlers

    def start(self) -> None:
        self.service.post = self._jobs.put
        self._thread.start()

    def stop(self) -> None:
        """Finish the job in hand, drop the rest, end the thread."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(STOP_LIMIT_S)

    def submit(self, data: dict[str, Any]) -> None:
        """Queue one parsed message of this lane (from the reader thread, in arrival order)."""
        msg_id = request_id(data)
        if msg_id is not None:
            with self._lock:
                self._waiting.add(msg_id)
        self._jobs.put(lambda: self._handle(data, msg_id))

    def cancel(self, params: Any) -> bool:
        """Mark a waiting Tab request cancelled; False when `params` names no request of this lane."""
        msg_id = params.get("id") if isinstance(params, dict) else None
        if not isinstance(msg_id, int | str):
            return False
        with self._lock:
            if msg_id not in self._waiting:
                return False
            self._cancelled.add(msg_id)
            return True

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a failed job must not end the lane (and with it Tab)
                log.exception("Tab: a job failed")

    def _handle(self, data: dict[str, Any], msg_id: int | str | None) -> None:
        cancelled = False
        if msg_id is not None:
            with self._lock:
                self._waiting.discard(msg_id)
                cancelled = msg_id in self._cancelled
                self._cancelled.discard(msg_id)
        protocol = self.server.protocol
        if protocol._shutdown:  # as pygls: nothing but `exit` is handled after `shutdown`
            log.warning("Server shutting down. No more requests!")
            return
        if cancelled:
            send_error(self.server, msg_id, REQUEST_CANCELLED, f'Request with id "{msg_id}" is canceled')
            return
        method = str(data["method"])
        message = structured(self.server, data, msg_id)
        if message is None:
            return
        params = message.params
        if protocol._workspace is None:
            log.error("%s before initialize", method)
            if msg_id is not None:
                send_error(self.server, msg_id, SERVER_NOT_INITIALIZED, "The server is not initialized")
            return
        try:
            result = self._handlers[method](params)
        except Exception as exc:
            log.exception("%s failed", method)
            if msg_id is not None:
                send_error(self.server, msg_id, INTERNAL_ERROR, f"byok internal error: {type(exc).__name__}")
            return
        if msg_id is not None:
            protocol._send_response(msg_id, result=result)

    def _did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        with self.server.documents_lock:
            self.server.workspace.put_text_document(params.text_document)
        self.service.opened(params.text_document.uri, params.text_document.text)

    def _did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        with self.server.documents_lock:
            document = self.server.workspace.text_documents.get(unquote(uri))  # pygls' key
            if document is None:
                log.warning("didChange for a document that is not open: %s", uri)
                return
            head = tail = len(document.source)
            for change in params.content_changes:
                kept_head, kept_tail = apply_change(document, change)
                head, tail = min(head, kept_head), min(tail, kept_tail)
            document.version = params.text_document.version
            text = document.source
        self.service.changed(uri, text, same_head=head, same_tail=tail)

    def _did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        with self.server.documents_lock:
            self.server.workspace.remove_text_document(params.text_document.uri)
        self.service.closed(params.text_document.uri)


def apply_change(document: TextDocument, change: types.TextDocumentContentChangeEvent) -> tuple[int, int]:
    """Apply one `didChange` change as pygls does, and say how many characters at the start and at the end
    of the text it left as they were ((0, 0) when unknown).

    An incremental change gives the text pygls' `_apply_incremental_change` gives, but by slicing instead
    of rewriting every line in a Python loop (that loop cost ~2 ms a keystroke in a 5,000-line file). What
    it does not handle the same way (a reversed range, a whole-document change) goes to pygls itself.
    """
    source = document.source
    if isinstance(change, types.TextDocumentContentChangePartial) and document._is_sync_kind_incremental:
        lines = source.splitlines(True)  # pygls' `TextDocument.lines`
        span = document.position_codec.range_from_client_units(lines, change.range)
        first, last = span.start.line, span.end.line
        if first == len(lines):  # pygls appends at the very end
            document.apply_change(types.TextDocumentContentChangeWholeDocument(text=source + change.text))
            return len(source), 0
        if first <= last < len(lines):
            begin = sum(map(len, lines[:first]))
            end = begin + sum(map(len, lines[first : last + 1]))
            head = source[:begin] + lines[first][: span.start.character]
            tail = lines[last][span.end.character :] + source[end:]
            document.apply_change(
                types.TextDocumentContentChangeWholeDocument(text=head + change.text + tail)
            )
            return len(head), len(tail)
    document.apply_change(change)
    return 0, 0
