"""The LSP side shared by all feature modules: the server class, the command wrapper, the stream sink.

Each feature module exposes `register(server)` and uses `server.byok_command` to add its commands,
which validates params at the boundary and turns every failure into a proper JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from lsprotocol import types
from lsprotocol.converters import get_converter
from pydantic import BaseModel, ValidationError
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from byok import __version__
from byok.base.errors import ByokError
from byok.base.names import BYOK_ERROR, Command, Notification
from byok.base.redaction import DeltaRedactor, redact
from byok.core.session import Backend

log = logging.getLogger("byok")
P = TypeVar("P", bound=BaseModel)


class StreamingParams(Protocol):
    """Params of a command that streams: the client's id for its `byok/stream` notifications, if any."""

    stream_id: str | None


S = TypeVar("S", bound=StreamingParams)

WORK_DONE_TOKEN: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "work_done_token", default=None
)
COALESCE_S = 0.004
"""Deltas arriving within this window after a sent one are batched into the next notification."""


class ByokProtocol(LanguageServerProtocol):
    """Runs commands as the request's own task, so `$/cancelRequest` cancels the command itself.

    (pygls' built-in executeCommand is a generator that runs the command as a separate, uncancellable
    task.) Also remembers the request's `workDoneToken` for progress reports.
    """

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:  # type: ignore[override]
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams(f"Command name {params.command!r} is not defined")
        token = params.work_done_token
        WORK_DONE_TOKEN.set(token if isinstance(token, int | str) and not isinstance(token, bool) else None)
        return await handler(*(params.arguments or ()))


class ByokServer(LanguageServer):
    def __init__(self, backend: Backend | None = None) -> None:
        super().__init__("byok", __version__, protocol_cls=ByokProtocol)
        self.backend = backend or Backend()
        self.pending_settings: Any = None

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Request failures already answer their request; other failures are logged, redacted."""
        if source is FeatureRequestError:
            return
        log.error("server error: %s", redact(str(error)))

    def byok_command(
        self, name: Command, params_model: type[P]
    ) -> Callable[[Callable[[P], Awaitable[Any]]], Callable[[P], Awaitable[Any]]]:
        """Register an async command taking ONE object argument validated by `params_model`."""

        def decorator(handler: Callable[[P], Awaitable[Any]]) -> Callable[[P], Awaitable[Any]]:
            async def run(*args: Any) -> Any:
                params = validate_params(name, params_model, args)
                try:
                    return _redacted(await handler(params))
                except ByokError as exc:
                    log.info("%s failed: %s", name.value, exc)
                    raise JsonRpcException(
                        message=redact(str(exc)), code=BYOK_ERROR, data=_redacted(exc.to_data())
                    ) from None
                except (JsonRpcException, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    log.exception("%s crashed", name.value)
                    raise JsonRpcInternalError(
                        message=f"byok internal error in {name.value}: {type(exc).__name__}"
                    ) from None

            self.command(name.value)(run)
            return handler

        return decorator

    def streaming_command(
        self, name: Command, params_model: type[S]
    ) -> Callable[[Callable[[S, LspStreamSink], Awaitable[dict[str, Any]]]], Any]:
        """Register a command that streams: its handler gets the params and the `byok/stream` sink, which is
        closed however the handler ends; the result names the stream (`streamId`)."""

        def decorator(
            handler: Callable[[S, LspStreamSink], Awaitable[dict[str, Any]]],
        ) -> Callable[[S, LspStreamSink], Awaitable[dict[str, Any]]]:
            async def run(params: S) -> dict[str, Any]:
                sink = self.stream_sink(params.stream_id)
                try:
                    result = await handler(params, sink)
                finally:
                    sink.close()
                return {**result, "streamId": sink.stream_id}

            self.byok_command(name, params_model)(run)  # type: ignore[type-var]  # S is a pydantic model too
            return handler

        return decorator

    def window_log_message(self, params: types.LogMessageParams) -> None:
        """Every message for the user leaves redacted, as results, errors and stream deltas do."""
        super().window_log_message(types.LogMessageParams(type=params.type, message=redact(params.message)))

    def window_show_message(self, params: types.ShowMessageParams) -> None:
        super().window_show_message(types.ShowMessageParams(type=params.type, message=redact(params.message)))

    async def window_show_message_request_async(
        self, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None:
        redacted = types.ShowMessageRequestParams(
            type=params.type, message=redact(params.message), actions=params.actions
        )
        return await super().window_show_message_request_async(redacted)

    def workspace_apply_edit(
        self,
        params: types.ApplyWorkspaceEditParams,
        callback: Callable[[types.ApplyWorkspaceEditResult], None] | None = None,
    ) -> Future[types.ApplyWorkspaceEditResult]:
        return super().workspace_apply_edit(_redacted_apply_edit(params), callback)

    async def workspace_apply_edit_async(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        """The editor writes an edit to disk: keys in its text and file names leave as fingerprints."""
        return await super().workspace_apply_edit_async(_redacted_apply_edit(params))

    def stream_sink(self, stream_id: str | None) -> LspStreamSink:
        return LspStreamSink(self, stream_id or uuid.uuid4().hex)

    async def ask_user(self, message: str, allow: str, deny: str, *, timeout_s: float) -> bool | None:
        """Ask the user through `window/showMessageRequest`: True only for the `allow` action.

        None means the client cannot ask (it declared no `window.showMessage` capability: headless). With
        a client that can ask, anything but `allow` (another title, null, an error, a timeout) is False.
        """
        window = self.client_capabilities.window if self.client_capabilities else None
        if window is None or window.show_message is None:
            return None
        request = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=message,
            actions=[types.MessageActionItem(title=allow), types.MessageActionItem(title=deny)],
        )
        try:
            async with asyncio.timeout(timeout_s):
                answer = await self.window_show_message_request_async(request)
        except Exception:  # the client's failure to answer is a refusal, whatever its shape
            log.info("permission request got no usable answer; treated as deny")
            return False
        return isinstance(answer, types.MessageActionItem) and answer.title == allow


MAX_PARAMS_DEPTH = 64
"""Params nested deeper are refused (no command's params nest more than a few levels)."""


def validate_params(name: Command, model: type[P], args: tuple[Any, ...]) -> P:
    if len(args) > 1:
        raise _invalid_params(name, [_problem("(params)", f"takes one object argument, got {len(args)}")])
    unreadable: list[dict[str, str]] = []
    try:
        raw = _plain(args[0], unreadable) if args else {}
    except _TooDeep as exc:
        raise _invalid_params(
            name, [_problem(exc.field, f"is nested more than {MAX_PARAMS_DEPTH} levels deep")]
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _invalid_params(
            name, [_problem("(params)", f"takes one object argument, got {type(raw).__name__}")]
        )
    try:
        params = model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            _problem(".".join(str(p) for p in error["loc"]) or "(params)", error["msg"])
            for error in exc.errors(include_input=False, include_url=False)
        ]
        named = {p["field"] for p in problems}
        raise _invalid_params(name, problems + [u for u in unreadable if u["field"] not in named]) from None
    if unreadable:
        raise _invalid_params(name, unreadable)
    return params


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _invalid_params(name: Command, problems: list[dict[str, str]]) -> JsonRpcInvalidParams:
    first = problems[0]
    if first["field"] == "(params)":
        text = f"{name.value} {first['message']}"
    else:
        text = f"{name.value}: invalid {first['field']}: {first['message']}"
    return JsonRpcInvalidParams(text, data={"fields": problems[:20]})


class _TooDeep(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(params)"


def _plain(value: Any, unreadable: list[dict[str, str]], path: tuple[Any, ...] = ()) -> Any:
    """Namedtuples and attrs objects from pygls' converter back into JSON-like data.

    Also notes, in `unreadable`, strings that are not valid Unicode (lone surrogates from `\\ud800`
    escapes; pydantic lets them through inside lists), and refuses nesting deeper than MAX_PARAMS_DEPTH.
    """
    if len(path) > MAX_PARAMS_DEPTH:
        raise _TooDeep(_field(path[:MAX_PARAMS_DEPTH]))
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                unreadable.append(_problem(_field(path), "is not valid Unicode text (a lone surrogate)"))
        return value
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {
            _plain(key, unreadable, (*path, "(key)")): _plain(item, unreadable, (*path, key))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(item, unreadable, (*path, index)) for index, item in enumerate(value)]
    return value


def _redacted(data: Any) -> Any:
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {k: _redacted(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_redacted(v) for v in data]
    return data


_URI_FIELDS = frozenset({"uri", "oldUri", "newUri"})
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"
"""Characters a URI keeps as they are (besides letters, digits and `_.-`): `%` too, so escapes stay."""


def _redacted_uri(uri: str) -> str:
    """`uri` with keys redacted, the fingerprint's `…` percent-encoded so it stays a valid URI."""
    redacted = redact(uri)
    return uri if redacted == uri else quote(redacted, safe=_URI_SAFE)


def _redacted_edit(data: Any, field: str = "") -> Any:
    """A WorkspaceEdit as JSON, redacted: file URIs (the fields and the keys of `changes`) stay URIs."""
    if isinstance(data, str):
        return _redacted_uri(data) if field in _URI_FIELDS else redact(data)
    if isinstance(data, dict):
        if field == "changes":
            return {_redacted_uri(uri): _redacted_edit(edits) for uri, edits in data.items()}
        return {key: _redacted_edit(value, key) for key, value in data.items()}
    if isinstance(data, list):
        return [_redacted_edit(item) for item in data]
    return data


def _redacted_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditParams:
    converter = get_converter()
    redacted = _redacted_edit(converter.unstructure(params, types.ApplyWorkspaceEditParams))
    return converter.structure(redacted, types.ApplyWorkspaceEditParams)


class LspStreamSink:
    """Sends `byok/stream` notifications: the first delta at once, later ones coalesced for a few ms.

    Every delta is redacted on the way in (a key split across deltas too: see `DeltaRedactor`); what it
    holds back goes out at `close`. Also mirrors status lines into `$/progress` when the request carried
    a workDoneToken.
    """

    def __init__(self, server: ByokServer, stream_id: str) -> None:
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
