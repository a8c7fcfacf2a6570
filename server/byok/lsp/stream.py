"""The `byok/stream` sink: redacted deltas to the client as coalesced notifications, status mirrored to `$/progress`."""

from __future__ import annotations

import asyncio
import contextvars

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from byok.base.names import Notification
from byok.base.redaction import DeltaRedactor

WORK_DONE_TOKEN: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "work_done_token", default=None
)
COALESCE_S = 0.004
"""Deltas arriving within this window after a sent one are batched into the next notification."""


class LspStreamSink:
    """Sends `byok/stream` notifications: the first delta at once, later ones coalesced for a few ms.

    Every delta is redacted on the way in (a key split across deltas too: see `DeltaRedactor`); what it
    holds back goes out at `close`. Also mirrors status lines into `$/progress` when the request carried
    a workDoneToken.
    """

    def __init__(self, server: LanguageServer, stream_id: str) -> None:
        self.server = server
        self.stream_id = stream_id
        self.progress_token = WORK_DONE_TOKEN.get()
        self._redactor = DeltaRedactor()
        self._pending: list[tuple[str, list[str]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_sent = 0.0
        self._loop = asyncio.get_running_loop()
        if self.progress_token is not None:
            self.server.work_done_progress.begin(
                self.progress_token, types.WorkDoneProgressBegin(title="byok", cancellable=True)
            )

    def delta(self, kind: str, text: str) -> None:
        text = self._redactor.feed(kind, text)
        if not text:
            return
        self._queue(kind, text)
        if kind == "status" and self.progress_token is not None:
            self.server.work_done_progress.report(
                self.progress_token, types.WorkDoneProgressReport(message=text[:200])
            )
        now = self._loop.time()
        if kind == "status" or now - self._last_sent >= COALESCE_S:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_later(COALESCE_S, self.flush)

    def _queue(self, kind: str, text: str) -> None:
        if self._pending and self._pending[-1][0] == kind:
            self._pending[-1][1].append(text)
        else:
            self._pending.append((kind, [text]))

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending = self._pending, []
        for kind, parts in pending:
            self.server.protocol.notify(
                Notification.STREAM.value,
                {"streamId": self.stream_id, "delta": {"type": kind, "text": "".join(parts)}},
            )
        if pending:
            self._last_sent = self._loop.time()

    def close(self) -> None:
        for kind, rest in self._redactor.finish():
            self._queue(kind, rest)
        self.flush()
        if self.progress_token is not None:
            self.server.work_done_progress.end(self.progress_token, types.WorkDoneProgressEnd())
