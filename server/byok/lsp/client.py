"""What the editor offers features, as the small callables they take: open documents, edits, questions, folders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException

from byok.base.errors import ByokError
from byok.lsp.commands import ByokServer
from byok.workspace.changes import Chooser, PermissionAsker, yes_no
from byok.workspace.edits import EditApplier
from byok.workspace.files import DocumentLookup, OpenDocument
from byok.workspace.jail import uri_to_path

log = logging.getLogger("byok")


def workspace_roots(server: ByokServer) -> list[Path]:
    """The local folders of the editor's workspace: every workspace folder and the root."""
    workspace = server.workspace
    uris = [
        folder.uri for folder in list(workspace.folders.values())
    ]  # list(): one step, safe from any thread
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
        with server.documents_lock:  # Tab's lane changes the documents on its own thread
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


def user_chooser(server: ByokServer) -> Chooser:
    """Asks with `window/showMessageRequest`, waiting up to `agent.permissionTimeoutS`."""

    async def choose(question: str, actions: Sequence[str]) -> str | None:
        timeout_s = server.backend.settings.agent.permission_timeout_s
        return await ask_choice(server, question, actions, timeout_s=timeout_s)

    return choose


def user_asker(server: ByokServer) -> PermissionAsker:
    """Asks Allow/Deny with `window/showMessageRequest`, waiting up to `agent.permissionTimeoutS`."""
    return yes_no(user_chooser(server))


async def ask_choice(
    server: ByokServer, message: str, actions: Sequence[str], *, timeout_s: float
) -> str | None:
    """Ask the user through `window/showMessageRequest`: the action chosen, the last one (the refusal) for
    anything else (null, an error, another title, no answer within `timeout_s`), None when the client cannot
    ask (it declared no `window.showMessage` capability: headless). One question at a time per server:
    the wait for the user starts when the question is shown."""
    window = server.client_capabilities.window if server.client_capabilities else None
    if window is None or window.show_message is None:
        return None
    request = types.ShowMessageRequestParams(
        type=types.MessageType.Warning,
        message=message,
        actions=[types.MessageActionItem(title=action) for action in actions],
    )
    async with server.ask_lock:
        try:
            async with asyncio.timeout(timeout_s):
                answer = await server.window_show_message_request_async(request)
        except (TimeoutError, JsonRpcException) as exc:  # no answer in time, or an error answer: a refusal
            log.info("permission request got no usable answer (%s); treated as deny", type(exc).__name__)
            return actions[-1]
        except Exception:  # our own bug, or a reply pygls could not read: still a refusal, but shown
            log.exception("permission request failed; treated as deny")
            return actions[-1]
    if isinstance(answer, types.MessageActionItem) and answer.title in actions:
        return answer.title
    return actions[-1]


async def ask_user(
    server: ByokServer, message: str, allow: str, deny: str, *, timeout_s: float
) -> bool | None:
    """Ask `allow`/`deny` through `window/showMessageRequest`: True only for `allow`; None when the client
    cannot ask (see `ask_choice`)."""
    answer = await ask_choice(server, message, (allow, deny), timeout_s=timeout_s)
    return None if answer is None else answer == allow


def edit_applier(server: ByokServer, label: str) -> EditApplier:
    """Sends `workspace/applyEdit` with `label`; the answer says whether the editor applied it."""

    async def apply(edit: dict[str, Any]) -> bool:
        workspace_edit = get_converter().structure(edit, types.WorkspaceEdit)
        result = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=workspace_edit, label=label)
        )
        return bool(result and result.applied)

    return apply
