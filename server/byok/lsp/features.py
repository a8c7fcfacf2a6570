"""Registers each feature's command handler (loaded after `initialize`) with what it needs: documents, edits, asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from byok.base.names import Command
from byok.core.turn import StreamSink
from byok.features.agent import AgentParams, agent
from byok.features.apply import ApplyParams, apply_code
from byok.features.chat import ChatParams, chat
from byok.features.checkpoints import RestoreCheckpointParams, list_checkpoints, restore_checkpoint
from byok.features.composer import ComposerParams, composer
from byok.features.inline_edit import InlineEditParams, inline_edit
from byok.features.mcp_context import ResourceReader
from byok.features.mcp_status import mcp_status
from byok.lsp.client import edit_applier, server_documents, user_asker, user_chooser, workspace_roots
from byok.lsp.commands import ByokServer
from byok.lsp.params import EmptyParams
from byok.workspace.jail import FileJail, Workspace


def register_features(server: ByokServer) -> None:
    """Every feature command (Tab's handlers are in lsp/tab.py, declared at start)."""

    @server.streaming_command(Command.CHAT, ChatParams)
    async def handle_chat(params: ChatParams, sink: StreamSink) -> dict[str, Any]:
        jail = FileJail(workspace_roots(server), server_documents(server, exact=True))
        return await chat(server.backend, params, sink, jail, _resource_reader(server))

    @server.streaming_command(Command.INLINE_EDIT, InlineEditParams)
    async def handle_inline_edit(params: InlineEditParams, sink: StreamSink) -> dict[str, Any]:
        return await inline_edit(
            server.backend,
            params,
            sink,
            workspace_roots(server),
            server_documents(server),
            edit_applier(server, "byok: inline edit"),
        )

    @server.streaming_command(Command.COMPOSER, ComposerParams)
    async def handle_composer(params: ComposerParams, sink: StreamSink) -> dict[str, Any]:
        return await composer(
            server.backend,
            params,
            sink,
            _agent_workspace(server),
            FileJail(workspace_roots(server), server_documents(server)),
            edit_applier(server, "byok: composer"),
            ask=user_asker(server),
            read_resource=_resource_reader(server),
        )

    @server.streaming_command(Command.AGENT, AgentParams)
    async def handle_agent(params: AgentParams, sink: StreamSink) -> dict[str, Any]:
        outcome = await agent(
            server.backend,
            params,
            sink,
            _agent_workspace(server),
            choose=user_chooser(server),
            apply_edit=edit_applier(server, "byok: agent"),
            jail=FileJail(workspace_roots(server), server_documents(server)),
            read_resource=_resource_reader(server),
        )
        return outcome.to_wire()

    @server.byok_command(Command.MCP_STATUS, EmptyParams)
    async def handle_mcp_status(params: EmptyParams) -> dict[str, Any]:
        return await mcp_status(server.backend, _agent_workspace(server))

    @server.byok_command(Command.APPLY, ApplyParams)
    async def handle_apply(params: ApplyParams) -> dict[str, Any]:
        return await apply_code(
            params, workspace_roots(server), server_documents(server), edit_applier(server, "byok: apply")
        )

    @server.byok_command(Command.CHECKPOINTS, EmptyParams)
    async def handle_checkpoints(params: EmptyParams) -> list[dict[str, Any]]:
        return await list_checkpoints(server.backend, _agent_workspace(server))

    @server.byok_command(Command.RESTORE_CHECKPOINT, RestoreCheckpointParams)
    async def handle_restore_checkpoint(params: RestoreCheckpointParams) -> dict[str, Any]:
        return await restore_checkpoint(
            server.backend,
            params,
            _agent_workspace(server),
            edit_applier(server, "byok: restore checkpoint"),
        )


def _agent_workspace(server: ByokServer) -> Workspace | None:
    """The workspace root the agent and Composer edit in, or None when no folder is open."""
    root = server.workspace.root_path
    return Workspace(Path(root), server_documents(server)) if root else None


def _resource_reader(server: ByokServer) -> ResourceReader:
    """Reads an MCP resource for `files`, starting its server after asking the user when needed."""

    async def read(name: str, uri: str) -> str:
        root = server.workspace.root_path
        return await server.backend.mcp.read_resource(
            name, uri, user_chooser(server), Path(root) if root else None
        )

    return read
