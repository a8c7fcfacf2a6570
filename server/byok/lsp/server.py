"""`byok-server`: answers `initialize` at once, then loads the handlers (lsp/handlers.py) in the background.

Only the LSP lifecycle, Tab's document handlers and thin command dispatchers are set up before `initialize`
is answered; features, providers, engines, MCP and ACP are imported after it (cold start is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from byok import __version__
from byok.base.names import Command
from byok.base.redaction import RedactingFormatter, log_to_stderr, redact
from byok.lsp.commands import ByokServer
from byok.lsp.stdio import start_stdio
from byok.lsp.tab import register_tab
from byok.lsp.tab_lane import TabLane

if TYPE_CHECKING:
    from byok.core.session import Backend

log = logging.getLogger("byok")
HANDLERS_MODULE = "byok.lsp.handlers"


class LspLogHandler(logging.Handler):
    """Mirrors byok's log records into `window/logMessage`, redacted."""

    LEVELS = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
    }

    def __init__(self, server: ByokServer) -> None:
        super().__init__(logging.INFO)
        self.server = server
        self.setFormatter(RedactingFormatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self.server.protocol.writer is None:
            return
        message_type = self.LEVELS.get(record.levelno, types.MessageType.Log)
        try:
            self.server.window_log_message(
                types.LogMessageParams(type=message_type, message=self.format(record))
            )
        except Exception:  # a closed transport must never break the caller
            return


def _load_handlers(server: ByokServer) -> None:
    from byok.lsp.handlers import register_handlers  # heavy: kept off the way to `initialize`

    register_handlers(server)


def _import_handlers_in_background(server: ByokServer) -> None:
    """Import the handlers on a thread, then register them on the loop (an exit waits for the import: a
    daemon thread killed inside an import at interpreter shutdown aborts the process).

    A command that arrives first loads them itself (`ByokServer.load_handlers`); this is then a no-op.
    """
    loop = asyncio.get_running_loop()

    def handlers_imported() -> None:
        server.load_handlers()
        # What start-up built (~75,000 objects: lsprotocol, pygls, httpx, the handlers) lives as long as the
        # process: out of the collector's sight, a full collection no longer stops every thread for
        # 25-60 ms (measured while 50 chats stream: it held up a Tab answer that long).
        gc.freeze()
        log.info("byok %s ready", __version__)

    def import_handlers() -> None:
        importlib.import_module(HANDLERS_MODULE)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the server is exiting
            loop.call_soon_threadsafe(handlers_imported)

    threading.Thread(target=import_handlers, name="byok-handlers-import").start()


def _apply_settings(server: ByokServer, raw: Any) -> None:
    server.load_handlers()
    from byok.lsp.handlers import apply_settings  # loaded by now

    apply_settings(server, raw)


def create_server(backend: Backend | None = None) -> ByokServer:
    server = ByokServer(backend)

    @server.feature(types.INITIALIZE)
    def initialize(ls: ByokServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            ls.pending_settings = options.get("byok", options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: ByokServer, params: types.InitializedParams) -> None:
        _import_handlers_in_background(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration_changed(ls: ByokServer, params: types.DidChangeConfigurationParams) -> None:
        raw: Any = None
        capabilities = ls.client_capabilities
        if capabilities.workspace and capabilities.workspace.configuration:
            try:
                values = await ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="byok")])
                )
                raw = values[0] if values else None
            except Exception as exc:
                log.warning("workspace/configuration failed: %s", redact(str(exc)))
        if raw is None and isinstance(params.settings, dict):
            raw = params.settings.get("byok")
        if raw is not None:
            _apply_settings(ls, raw)

    server.declare_commands(Command, _load_handlers)
    server.tab_lane = TabLane(server, register_tab(server))

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ByokServer, params: None) -> None:
        await ls.close_backend()

    return server


def _answered_request_failures(record: logging.LogRecord) -> bool:
    """Drop pygls' traceback for a request failure it has already answered (byok logged it, redacted)."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, JsonRpcException)


def configure_logging(server: ByokServer | None, level: int = logging.INFO) -> None:
    """Log to stderr only (stdout is the LSP channel) and to window/logMessage; always redacted."""
    log_to_stderr(level)
    logging.getLogger("pygls").setLevel(logging.WARNING)  # pygls logs whole message bodies at INFO
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_answered_request_failures)
    if server is not None:
        logging.getLogger("byok").addHandler(LspLogHandler(server))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="byok-server", description="byok language server (stdio by default)"
    )
    parser.add_argument("--stdio", action="store_true", help="serve on stdin/stdout (the default)")
    parser.add_argument("--tcp", action="store_true", help="serve on a TCP port instead, for debugging")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2087)
    parser.add_argument("--version", action="version", version=f"byok {__version__}")
    args = parser.parse_args(argv)
    server = create_server()
    configure_logging(server)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        start_stdio(server, server.tab_lane)
