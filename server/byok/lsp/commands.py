"""The server class and its command wrappers: params validated at the boundary, every failure a proper JSON-RPC error.

Every command is declared at start (so `initialize` can answer with its name) by a thin dispatcher; the
handlers themselves, and the features, providers and engines behind them, are loaded on first use or
right after `initialized` (see `ByokServer.load_handlers`). This module therefore imports nothing heavy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from byok import __version__
from byok.base.names import BYOK_ERROR, Command
from byok.base.redaction import redact, redact_data
from byok.lsp.stream import WORK_DONE_TOKEN, LspStreamSink

if TYPE_CHECKING:
    from pydantic import BaseModel

    from byok.core.session import Backend

P = TypeVar("P", bound="BaseModel")
CommandHandler = Callable[..., Awaitable[Any]]
HandlerLoader = Callable[["ByokServer"], None]

log = logging.getLogger("byok")


class StreamingParams(Protocol):
    """Params of a command that streams: the client's id for its `byok/stream` notifications, if any."""

    stream_id: str | None


S = TypeVar("S", bound=StreamingParams)


class Lane(Protocol):
    """Messages served on a thread of their own, off the event loop (Tab's: lsp/tab_lane.py)."""

    def takes(self, method: Any) -> bool: ...
    def submit(self, data: dict[str, Any]) -> None: ...
    def cancel(self, params: Any) -> bool: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


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
        self._backend = backend
        if backend is not None:
            backend.on_warning(self.show_warning)
        self.pending_settings: Any = None
        self.ask_lock = asyncio.Lock()
        """Questions to the user go one at a time (parallel tool calls may each ask)."""
        self._handlers: dict[Command, CommandHandler] = {}
        self._handler_loader: HandlerLoader | None = None
        self.documents_lock = threading.Lock()
        """Held while the open documents change (by Tab's lane, on its thread) and while they are read."""
        self.tab_lane: Lane | None = None
        """Serves Tab on its own thread over stdio pipes (see lsp/tab_lane.py); None: on the event loop."""

    @property
    def backend(self) -> Backend:
        """The session behind every command, created on first use (it pulls in providers and settings models)."""
        if self._backend is None:
            from byok.core.session import Backend  # heavy: not on the way to `initialize`

            self._backend = Backend()
            self._backend.on_warning(self.show_warning)
        return self._backend

    async def close_backend(self) -> None:
        """Close the session if one was ever started."""
        if self._backend is not None:
            await self._backend.aclose()

    def show_warning(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    def declare_commands(self, names: Iterable[Command], loader: HandlerLoader) -> None:
        """Declare `names` to the client now; `loader` registers their handlers (`byok_command`) on first use."""
        self._handler_loader = loader
        for name in names:
            self.command(name.value)(self._dispatcher(name))

    def load_handlers(self) -> None:
        """Import and register every handler, once (a no-op afterwards)."""
        loader, self._handler_loader = self._handler_loader, None
        if loader is not None:
            loader(self)

    def _dispatcher(self, name: Command) -> CommandHandler:
        async def dispatch(*args: Any) -> Any:
            self.load_handlers()
            handler = self._handlers.get(name)
            if handler is None:
                raise JsonRpcInternalError(message=f"byok internal error: {name.value} has no handler")
            return await handler(*args)

        return dispatch

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Request failures already answer their request; other failures are logged, redacted."""
        if source is FeatureRequestError:
            return
        log.error("server error: %s", redact(str(error)))

    def byok_command(
        self, name: Command, params_model: type[P]
    ) -> Callable[[Callable[[P], Awaitable[Any]]], Callable[[P], Awaitable[Any]]]:
        """Register an async command taking ONE object argument validated by `params_model`."""

        from byok.base.errors import ByokError  # imported with the handlers, after `initialize`
        from byok.lsp.params import validate_params

        def decorator(handler: Callable[[P], Awaitable[Any]]) -> Callable[[P], Awaitable[Any]]:
            async def run(*args: Any) -> Any:
                params = validate_params(name, params_model, args)
                try:
                    return redact_data(await handler(params))
                except ByokError as exc:
                    log.info("%s failed: %s", name.value, exc)
                    raise JsonRpcException(
                        message=redact(str(exc)), code=BYOK_ERROR, data=redact_data(exc.to_data())
                    ) from None
                except (JsonRpcException, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    log.exception("%s crashed", name.value)
                    raise JsonRpcInternalError(
                        message=f"byok internal error in {name.value}: {type(exc).__name__}"
                    ) from None

            self._handlers[name] = run
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
        """Ask the client; when the wait is given up (the question timed out, the command was cancelled),
        `$/cancelRequest` tells the client to drop the question, and its late answer finds no one waiting."""
        redacted = types.ShowMessageRequestParams(
            type=params.type, message=redact(params.message), actions=params.actions
        )
        msg_id = str(uuid.uuid4())
        answer = self.protocol.send_request(types.WINDOW_SHOW_MESSAGE_REQUEST, redacted, msg_id=msg_id)
        try:
            return await asyncio.wrap_future(answer)  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            # pygls keeps the cancelled future (and the result type, dropped only on a result) until an answer
            # comes, and then fails to set its result
            self.protocol._request_futures.pop(msg_id, None)
            self.protocol._result_types.pop(msg_id, None)
            self.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            raise

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
