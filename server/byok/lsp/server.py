"""`byok-server`: wires LSP handlers to the features. State lives on `ByokServer`; lsp/features.py registers the features."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from byok import __version__
from byok.base.config import load_settings
from byok.base.errors import ByokError
from byok.base.names import Command, ErrorCode
from byok.base.redaction import RedactingFormatter, redact
from byok.core.session import Backend
from byok.features.rules import rules_status
from byok.lsp.client import ask_user, user_chooser, workspace_roots
from byok.lsp.commands import ByokServer
from byok.lsp.features import register_features
from byok.lsp.params import (
    BindKeyParams,
    EmptyParams,
    ForgetApprovalsParams,
    ProviderParams,
    SetKeyParams,
    UsageParams,
)
from byok.lsp.stdio import start_stdio

log = logging.getLogger("byok")

BIND_ACTION = "Bind"
BIND_ASK_TIMEOUT_S = 300.0
"""How long byok.bindKey waits for the user to answer (a human reads the route first)."""


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


def apply_settings(server: ByokServer, raw: Any) -> None:
    settings, problems = load_settings(raw)
    server.backend.update_settings(settings)
    if settings.mcp.start_on_launch and settings.mcp.servers:
        root = server.workspace.root_path
        server.backend.mcp.start_in_background(user_chooser(server), Path(root) if root else None)
    for problem in problems:
        log.warning("%s", problem)
    if problems:
        server.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message="byok: some settings are invalid; defaults are used for them. "
                + "; ".join(problems[:3]),
            )
        )


def create_server(backend: Backend | None = None) -> ByokServer:
    server = ByokServer(backend)

    @server.feature(types.INITIALIZE)
    def initialize(ls: ByokServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            ls.pending_settings = options.get("byok", options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: ByokServer, params: types.InitializedParams) -> None:
        if ls.pending_settings is not None:
            apply_settings(ls, ls.pending_settings)
            ls.pending_settings = None
        ls.backend.start_discovery()  # in the background: nothing waits for it but a request that needs it
        log.info("byok %s ready", __version__)

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
            apply_settings(ls, raw)

    @server.byok_command(Command.SET_KEY, SetKeyParams)
    async def set_key(params: SetKeyParams) -> dict[str, Any]:
        return await server.backend.set_key(params.provider, params.key)

    @server.byok_command(Command.BIND_KEY, BindKeyParams)
    async def bind_key(params: BindKeyParams) -> dict[str, Any]:
        route, stored, question = await server.backend.prepare_bind(params.provider, params.endpoint)
        allowed = await ask_user(server, question, BIND_ACTION, "Cancel", timeout_s=BIND_ASK_TIMEOUT_S)
        if not allowed:
            terminal = f"Run `byok keys bind {params.provider}` in a terminal and confirm the route it shows"
            raise ByokError(
                ErrorCode.BIND_NOT_CONFIRMED,
                "This editor cannot ask you to confirm a route; nothing was bound"
                if allowed is None
                else "The route was not confirmed; nothing was bound",
                provider=params.provider,
                fix=terminal,
            )
        return await server.backend.bind_key(params.provider, route, stored)

    @server.byok_command(Command.DELETE_KEY, ProviderParams)
    async def delete_key(params: ProviderParams) -> dict[str, Any]:
        return await server.backend.delete_key(params.provider)

    @server.byok_command(Command.LIST_KEYS, EmptyParams)
    async def list_keys(params: EmptyParams) -> list[dict[str, Any]]:
        return await server.backend.list_keys()

    @server.byok_command(Command.VERIFY_KEY, ProviderParams)
    async def verify_key(params: ProviderParams) -> dict[str, Any]:
        return await server.backend.verify(params.provider)

    @server.byok_command(Command.LIST_MODELS, EmptyParams)
    async def list_models(params: EmptyParams) -> list[dict[str, Any]]:
        return await server.backend.model_list()

    @server.byok_command(Command.STATUS, EmptyParams)
    async def status(params: EmptyParams) -> dict[str, Any]:
        rules = await rules_status(server.backend, workspace_roots(server))
        return {**await server.backend.status(), "rules": rules}

    @server.byok_command(Command.USAGE, UsageParams)
    async def usage(params: UsageParams) -> dict[str, Any]:
        await server.backend.settled()
        ledger, budget = server.backend.ledger, server.backend.settings.budget
        return await asyncio.to_thread(ledger.summary, params.month, params.group_by, budget)

    @server.byok_command(Command.FORGET_APPROVALS, ForgetApprovalsParams)
    async def forget_approvals(params: ForgetApprovalsParams) -> dict[str, Any]:
        approvals, root = server.backend.approvals, server.workspace.root_path
        if params.all:
            forgotten = await asyncio.to_thread(approvals.forget, None)
        else:
            forgotten = await asyncio.to_thread(approvals.forget_workspace, Path(root) if root else None)
        return {"forgotten": forgotten}

    def show_warning(message: str) -> None:
        server.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    server.backend.on_warning(show_warning)
    register_features(server)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ByokServer, params: None) -> None:
        await ls.backend.aclose()

    return server


def _answered_request_failures(record: logging.LogRecord) -> bool:
    """Drop pygls' traceback for a request failure it has already answered (byok logged it, redacted)."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, JsonRpcException)


def configure_logging(server: ByokServer | None, level: int = logging.INFO) -> None:
    """Log to stderr only (stdout is the LSP channel) and to window/logMessage; always redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("byok").setLevel(level)
    logging.getLogger("pygls").setLevel(logging.WARNING)  # pygls logs whole message bodies at INFO
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_answered_request_failures)
    logging.getLogger("httpx").setLevel(logging.WARNING)
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
        start_stdio(server)
