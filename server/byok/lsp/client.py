"""What the editor offers features, as the small callables they take: open documents, edits, questions, folders."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter

from byok.base.errors import ByokError
from byok.core.mcp.servers import Chooser
from byok.lsp.commands import ByokServer
from byok.workspace.changes import PermissionAsker
from byok.workspace.edits import EditApplier
from byok.workspace.files import DocumentLookup, OpenDocument
from byok.workspace.jail import uri_to_path

log = logging.getLogger("byok")

ALLOW, DENY = "Allow", "Deny"


def workspace_roots(server: ByokServer) -> list[Path]:
    """The local folders of the editor's workspace: every workspace folder and the root."""
    workspace = server.workspace
    uris = [folder.uri for folder in workspace.folders.values()]
    if workspace.root_uri:
        uris.append(workspace.root_uri)
    roots: list[Path] = []
    for uri in dict.fromkeys(uris):
        try:
            roots.append(uri_to_path(uri))
        except ByokError:  # not a local folder: nothing on disk is read through it
            continue
    return roots


def server_documents(server: ByokServer, *, exact: bool = False) -> DocumentLookup:
    """Open documents of the server's workspace, found by URI or, failing that (unless `exact`), by path."""

    def lookup(uri: str) -> OpenDocument | None:
        documents = server.workspace.text_documents
        document = documents.get(uri)
        if document is None and not exact:
            path = uri_to_path(uri)
            document = next((d for u, d in documents.items() if _same_path(u, path)), None)
        return (
            None
            if document is None
            else OpenDocument(document.source, document.version, document.language_id)
        )

    return lookup


def _same_path(uri: str, path: Path) -> bool:
    try:
        return uri_to_path(uri) == path
    except ByokError:
        return False


def user_asker(server: ByokServer) -> PermissionAsker:
    """Asks with `window/showMessageRequest` (Allow/Deny), waiting up to `agent.permissionTimeoutS`."""

    async def ask(question: str) -> bool | None:
        timeout_s = server.backend.settings.agent.permission_timeout_s
        return await ask_user(server, question, ALLOW, DENY, timeout_s=timeout_s)

    return ask


async def ask_user(
    server: ByokServer, message: str, allow: str, deny: str, *, timeout_s: float
) -> bool | None:
    """Ask the user through `window/showMessageRequest`: True only for the `allow` action.

    None means the client cannot ask (it declared no `window.showMessage` capability: headless). With
    a client that can ask, anything but `allow` (another title, null, an error, a timeout) is False.
    """
    answer = await choose(server, message, (allow, deny), timeout_s=timeout_s)
    return None if answer is None else answer == allow


async def choose(
    server: ByokServer, message: str, actions: tuple[str, ...], *, timeout_s: float
) -> str | None:
    """Ask with `window/showMessageRequest` offering `actions`: the title picked; "" for anything else (null,
    another title, an error, a timeout); None when the client cannot ask (no `window.showMessage`)."""
    window = server.client_capabilities.window if server.client_capabilities else None
    if window is None or window.show_message is None:
        return None
    request = types.ShowMessageRequestParams(
        type=types.MessageType.Warning,
        message=message,
        actions=[types.MessageActionItem(title=title) for title in actions],
    )
    try:
        async with asyncio.timeout(timeout_s):
            answer = await server.window_show_message_request_async(request)
    except Exception:  # the client's failure to answer is a refusal, whatever its shape
        log.info("permission request got no usable answer; treated as deny")
        return ""
    if isinstance(answer, types.MessageActionItem) and answer.title in actions:
        return answer.title
    return ""


def user_chooser(server: ByokServer) -> Chooser:
    """`choose` with the user's `agent.permissionTimeoutS`, as the callable features take."""

    async def ask(question: str, actions: tuple[str, ...]) -> str | None:
        timeout_s = server.backend.settings.agent.permission_timeout_s
        return await choose(server, question, actions, timeout_s=timeout_s)

    return ask


def edit_applier(server: ByokServer, label: str) -> EditApplier:
    """Sends `workspace/applyEdit` with `label`; the answer says whether the editor applied it."""

    async def apply(edit: dict[str, Any]) -> bool:
        workspace_edit = get_converter().structure(edit, types.WorkspaceEdit)
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=workspace_edit, label=label)
        )
        return bool(result and result.applied)

    return apply
