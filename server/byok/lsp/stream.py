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

    What goes out is redacted (a key split across deltas too: see `DeltaRedactor`): each notification's
    text once, when it is sent, not each delta (a stream of tiny deltas spent a fifth of its time there);
    what the redactor holds back goes out at `close`. Also mirrors status lines into `$/progress` when the
    request carried a workDoneToken.
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
        if not text:
            return
        if kind == "status":
            text = self._redactor.feed(kind, text)
            if self.progress_token is not None:
                self.server.work_done_progress.report(
                    self.progress_token, types.WorkDoneProgressReport(message=text[:200])
                )
        self._queue(kind, text)
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

    def flush(self, *, final: bool = False) -> None:
        """Send what is queued, redacted; `final`: also what the redactor still holds back."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending = self._pending, []
        out: list[tuple[str, str]] = []
        for kind, parts in pending:
            text = "".join(parts) if kind == "status" else self._redactor.feed(kind, "".join(parts))
            out.append((kind, text))
        for kind, rest in self._redactor.finish() if final else ():
            out.append((kind, out.pop()[1] + rest) if out and out[-1][0] == kind else (kind, rest))
        for kind, text in out:
            if text:
                self.server.protocol.notify(
                    Notification.STREAM.value,
                    {"streamId": self.stream_id, "delta": {"type": kind, "text": text}},
                )
                self._last_sent = self._loop.time()

    def close(self) -> None:
        self.flush(final=True)
        if self.progress_token is not None:
            self.server.work_done_progress.end(self.progress_token, types.WorkDoneProgressEnd())
