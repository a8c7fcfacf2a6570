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
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from byok.base.errors import ByokError
from byok.base.names import AcpPermission
from byok.base.redaction import redact
from byok.core.approvals import MAX_KEY_CHARS
from byok.workspace.command_policy import decide
from byok.workspace.files import OpenDocument
from byok.workspace.shell import MAX_COMMAND_OUTPUT

if TYPE_CHECKING:
    from acp.interfaces import Client
    from acp.schema import ClientCapabilities, PermissionOptionKind, ToolCallUpdate

    from byok.core.approvals import Approvals

log = logging.getLogger(__name__)

PERMISSION_OPTIONS: dict[AcpPermission, tuple[str, PermissionOptionKind]] = {
    AcpPermission.ALLOW_ONCE: ("Allow once", "allow_once"),
    AcpPermission.ALLOW_ALWAYS: ("Always allow", "allow_always"),
    AcpPermission.REJECT: ("Reject", "reject_once"),
}
"""The permission options every ask offers, in order."""


class ClientFiles:
    """The client's view of files: texts fetched with `fs/read_text_file`, served to the sync document lookup."""

    def __init__(self, client: Client, session_id: str, capabilities: ClientCapabilities | None) -> None:
        self.client = client
        self.session_id = session_id
        fs = capabilities.fs if capabilities else None
        self.can_read = bool(fs and fs.read_text_file)
        self.can_write = bool(fs and fs.write_text_file)
        self._texts: dict[str, OpenDocument] = {}

    def lookup(self, uri: str) -> OpenDocument | None:
        """The client's text of a file fetched for this call, or None (then byok reads the disk)."""
        return self._texts.get(uri)

    async def fetch(self, path: Path) -> None:
        """Ask the client for the file's current text (its unsaved buffer if open); a file it cannot read
        (absent, not text) is left to byok's own reader."""
        if not self.can_read or path.as_uri() in self._texts:
            return
        from acp import RequestError

        try:
            response = await self.client.read_text_file(session_id=self.session_id, path=str(path))
        except RequestError as exc:
            log.info("the client did not read %s: %s", path.name, redact(str(exc)))
            return
        self._texts[path.as_uri()] = OpenDocument(response.content, None)

    async def write(self, path: Path, text: str) -> None:
        """Write the file through the client (it shows the change), else to disk atomically."""
        self._texts[path.as_uri()] = OpenDocument(text, None)
        if self.can_write:
            await self.client.write_text_file(session_id=self.session_id, path=str(path), content=text)
            return
        await asyncio.to_thread(_write_disk, path, text)


def _write_disk(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".byok")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Permissions:
    """Asks with `session/request_permission`. "Always allow" holds for the session; for a command's
    program it is also remembered for the workspace in byok's approvals store (as the language server
    does, and cleared by `byok approvals --forget`)."""

    def __init__(
        self,
        client: Client,
        session_id: str,
        approvals: Approvals,
        scope: str,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.approvals = approvals
        self.scope = scope
        self.always: set[str] = set()

    async def ask(self, subject: str, shown: ToolCallUpdate, *, remember_here: bool = False) -> bool:
        """True when the user allows; `subject` names what "Always allow" covers (`edit`, `command:pytest`),
        `remember_here` keeps that choice for the workspace."""
        if subject in self.always or (
            remember_here and await asyncio.to_thread(self.approvals.approved, self.scope, subject)
        ):
            return True
        from acp.schema import AllowedOutcome, PermissionOption

        options = [
            PermissionOption(option_id=option.value, name=name, kind=kind)
            for option, (name, kind) in PERMISSION_OPTIONS.items()
        ]
        response = await self.client.request_permission(
            session_id=self.session_id, tool_call=shown, options=options
        )
        outcome = response.outcome
        chosen = outcome.option_id if isinstance(outcome, AllowedOutcome) else None
        if chosen == AcpPermission.ALLOW_ALWAYS:
            self.always.add(subject)
            if remember_here:
                try:
                    await asyncio.to_thread(self.approvals.remember, self.scope, subject)
                except ByokError as exc:
                    log.warning("could not remember an approval beyond this session: %s", exc)
        return chosen in (AcpPermission.ALLOW_ONCE, AcpPermission.ALLOW_ALWAYS)


def command_subject(command: str) -> str:
    """What "Always allow" covers for a command: its program when that is all it runs (`command:pytest`, the
    approvals store's key, as the language server remembers it); else the exact command line (`command-line:`),
    for this session only. `pytest; rm -rf ~` is never covered by an approval of `pytest`."""
    rememberable = decide(command, [], []).rememberable
    if len(rememberable) == 1:
        return f"command:{rememberable[0]}"[:MAX_KEY_CHARS]
    return f"command-line:{command}"


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
