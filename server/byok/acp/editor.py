"""What the ACP client offers the agent, as the callables the features take: files, edits, asks, terminals.

The language server's counterparts live in lsp/client.py. Here files are read and written through the
client's `fs/read_text_file` / `fs/write_text_file` when it offers them (so unsaved buffers are read and
edits land in the editor), commands run in the client's `terminal/*` when offered (inside `env -i`, so they
get byok's scrubbed environment there too), and asks are `session/request_permission`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from byok.base.atomic import write_atomic
from byok.base.names import AcpPermission
from byok.base.redaction import redact
from byok.workspace.files import OpenDocument
from byok.workspace.shell import MAX_COMMAND_OUTPUT

if TYPE_CHECKING:
    from acp.interfaces import Client
    from acp.schema import ClientCapabilities, PermissionOptionKind, ToolCallUpdate

log = logging.getLogger(__name__)

EDIT_ACTIONS = ("Allow this edit", "Allow all edits in this session", "Reject")


class ClientFiles:
    """The client's view of files: texts fetched with `fs/read_text_file`, served to the sync document lookup."""

    def __init__(self, client: Client, session_id: str, capabilities: ClientCapabilities | None) -> None:
        self.client = client
        self.session_id = session_id
        fs = capabilities.fs if capabilities else None
        self.can_read = bool(fs and fs.read_text_file)
        self.can_write = bool(fs and fs.write_text_file)
        self._texts: dict[str, OpenDocument] = {}

    def forget(self) -> None:
        """Drop the texts fetched so far: a new prompt reads the editor's buffers as they are now."""
        self._texts.clear()

    def lookup(self, uri: str) -> OpenDocument | None:
        """The client's text of a file fetched in this prompt, or None (then byok reads the disk)."""
        return self._texts.get(uri)

    async def fetch(self, path: Path) -> None:
        """Ask the client for the file's current text (its unsaved buffer if open); a file it cannot read
        (absent, not text) is left to byok's own reader."""
        if not self.can_read or path.as_uri() in self._texts:
            return
        from acp import RequestError

        try:
            response = await self.client.read_text_file(session_id=self.session_id, path=str(path))
        except (RequestError, ValidationError) as exc:  # an answer that does not validate: as not read
            log.info("the client did not read %s: %s", path.name, redact(str(exc))[:300])
            return
        self._texts[path.as_uri()] = OpenDocument(response.content, None)

    async def write(self, path: Path, text: str) -> None:
        """Write the file through the client (it shows the change), else to disk atomically."""
        self._texts[path.as_uri()] = OpenDocument(text, None)
        if self.can_write:
            await self.client.write_text_file(session_id=self.session_id, path=str(path), content=text)
            return
        await asyncio.to_thread(_write_disk, path, text)


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it before Python 3.13 (os.getumask); put back at once
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_umask()
"""A file the agent creates gets the mode any program would give it (the umask read once, at import)."""


def _write_disk(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else NEW_FILE_MODE
    write_atomic(path, text, durable=False, mode=mode)


class Permissions:
    """Asks with `session/request_permission`: the actions of a byok question become the permission options
    (the first allows once, the last rejects, those between allow always), so "Always allow `pytest …`
    here" and MCP's "Always allow" are remembered by the feature that offered them, as in the language
    server. In `edit` mode, "Always allow" for edits holds for the rest of the session."""

    def __init__(self, client: Client, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.edits_allowed = False

    async def choose(self, shown: ToolCallUpdate, actions: Sequence[str]) -> str:
        """The action the user picked; the last one (the refusal) for a cancelled ask."""
        from acp.schema import AllowedOutcome, PermissionOption

        always = len(actions) - 2
        ids = [
            AcpPermission.ALLOW_ONCE.value,
            *[AcpPermission.ALLOW_ALWAYS.value + (f"_{n}" if always > 1 else "") for n in range(always)],
            AcpPermission.REJECT.value,
        ]
        always_kinds: list[PermissionOptionKind] = ["allow_always"] * always
        kinds: list[PermissionOptionKind] = ["allow_once", *always_kinds, "reject_once"]
        options = [
            PermissionOption(option_id=option_id, name=action, kind=kind)
            for option_id, action, kind in zip(ids, actions, kinds, strict=True)
        ]
        from acp import RequestError

        try:
            response = await self.client.request_permission(
                session_id=self.session_id, tool_call=shown, options=options
            )
        except (RequestError, ValidationError) as exc:  # no usable answer: refused, as when cancelled
            log.info("the client did not answer a permission ask: %s", redact(str(exc))[:300])
            return actions[-1]
        outcome = response.outcome
        chosen = outcome.option_id if isinstance(outcome, AllowedOutcome) else None
        return actions[ids.index(chosen)] if chosen in ids else actions[-1]

    async def allow_edit(self, shown: ToolCallUpdate) -> bool:
        """In `edit` mode: may this edit (its diff in `shown`) be made?"""
        if self.edits_allowed:
            return True
        answer = await self.choose(shown, EDIT_ACTIONS)
        self.edits_allowed = answer == EDIT_ACTIONS[1]
        return answer != EDIT_ACTIONS[-1]


class ClientTerminal:
    """Runs a command in the client's terminal (`terminal/create` ... `terminal/release`)."""

    def __init__(
        self, client: Client, session_id: str, on_terminal: Callable[[str], Awaitable[None]]
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.on_terminal = on_terminal

    async def run(
        self, command: str, cwd: Path, timeout_s: float, env: dict[str, str]
    ) -> tuple[int | None, str]:
        from acp.schema import EnvVariable

        scrubbed = [f"{name}={value}" for name, value in env.items()]
        created = await self.client.create_terminal(
            session_id=self.session_id,
            command="env",
            args=["-i", *scrubbed, "/bin/sh", "-c", command],
            cwd=str(cwd),
            env=[EnvVariable(name=name, value=value) for name, value in env.items()],
            output_byte_limit=MAX_COMMAND_OUTPUT,
        )
        terminal = created.terminal_id
        try:
            await self.on_terminal(terminal)
            timed_out = False
            try:
                async with asyncio.timeout(timeout_s):
                    exited = await self.client.wait_for_terminal_exit(
                        session_id=self.session_id, terminal_id=terminal
                    )
            except TimeoutError:
                timed_out = True
                await self.client.kill_terminal(session_id=self.session_id, terminal_id=terminal)
            output = await self.client.terminal_output(session_id=self.session_id, terminal_id=terminal)
        finally:
            await asyncio.shield(
                self.client.release_terminal(session_id=self.session_id, terminal_id=terminal)
            )
        if timed_out:
            return None, redact(output.output)
        code = exited.exit_code if exited.exit_code is not None else 128
        return code, redact(output.output)
