"""The command handlers, loaded after `initialize` (on first use or in the background): keys, status, usage, settings.

Importing this module pulls in the features, providers and engines; lsp/server.py only declares the commands.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from byok.base.config import load_settings
from byok.base.errors import ByokError
from byok.base.names import Command, ErrorCode
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

log = logging.getLogger("byok")

BIND_ACTION = "Bind"
BIND_ASK_TIMEOUT_S = 300.0
"""How long byok.bindKey waits for the user to answer (a human reads the route first)."""


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


def register_handlers(server: ByokServer) -> None:
    """Register every command's handler, apply the settings `initialize` carried, start model discovery."""
    _register_key_commands(server)
    _register_session_commands(server)
    register_features(server)
    if server.pending_settings is not None:
        apply_settings(server, server.pending_settings)
        server.pending_settings = None
    server.backend.start_discovery()  # in the background: nothing waits for it but a request that needs it


def _register_key_commands(server: ByokServer) -> None:
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


def _register_session_commands(server: ByokServer) -> None:
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
