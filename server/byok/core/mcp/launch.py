"""What starting an MCP server means: its secret references resolved, its command line in words for the
user's approval, and the key that approval is remembered by."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from byok.base.config import SECRET_REFERENCE, McpServerSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.workspace.shell import display_command, is_credential_variable

KEYRING_SERVICE = "byok-mcp"
"""Keychain service of `${keyring:NAME}` secrets (user = NAME): `keyring set byok-mcp NAME` stores one."""


def working_directory(settings: McpServerSettings, root: Path | None) -> str:
    """The absolute folder a stdio server starts in: its `cwd` (a relative one inside the workspace root),
    else byok's own. Part of what the user approves: `node server.js` runs a different file in each folder."""
    if settings.cwd:
        cwd = Path(settings.cwd).expanduser()
        if not cwd.is_absolute():
            cwd = (root or Path.cwd()) / cwd
    else:
        cwd = Path.cwd()
    return os.path.normpath(cwd)


def approval_key(settings: McpServerSettings, root: Path | None) -> str:
    """`mcp-start:<sha256>` of what the user approves: command, args, env names and the folder it starts
    in, or the URL."""
    if settings.url is not None:
        what: dict[str, object] = {"url": settings.url}
    else:
        what = {
            "command": settings.command,
            "args": settings.args,
            "env": sorted(settings.env),
            "cwd": working_directory(settings, root),
        }
    return "mcp-start:" + hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def command_line(settings: McpServerSettings, root: Path | None) -> str:
    """The server's command line (or URL) as the start question shows it: escaped, env values left out,
    the folder it starts in spelled out."""
    if settings.url is not None:
        return display_command(settings.url)
    shown = display_command(shlex.join([settings.command or "", *settings.args]))
    if settings.env:
        shown += f" (env: {', '.join(sorted(settings.env))})"
    return shown + f" (in {display_command(working_directory(settings, root))})"


def start_question(name: str, settings: McpServerSettings, root: Path | None) -> str:
    return f'Start MCP server "{name}": {command_line(settings, root)}?'


def _keyring_secret(name: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as exc:
        raise ByokError(
            ErrorCode.KEYRING_UNAVAILABLE,
            f"The keychain could not be read for ${{keyring:{name}}}",
            cause=type(exc).__name__,
        ) from None


def resolve(text: str, where: str, environ: Mapping[str, str]) -> str:
    """`text` with each `${env:VAR}` / `${keyring:NAME}` replaced; every value used is registered with the
    redactor first, so no log, error or result can carry it."""

    def value_of(match: object) -> str:
        kind, name = match.groups()  # type: ignore[attr-defined]
        value = environ.get(name) if kind == "env" else _keyring_secret(name)
        if value is None:
            store = f"export {name}=..." if kind == "env" else f"`keyring set {KEYRING_SERVICE} {name}`"
            raise ByokError(
                ErrorCode.MCP_UNAVAILABLE,
                f"{where} refers to ${{{kind}:{name}}}, which is not set",
                cause="A secret reference in the MCP server's settings has no value",
                fix=f"Set it ({store}), then start the server again",
            )
        REDACTOR.register(value)
        return str(value)

    return SECRET_REFERENCE.sub(value_of, text)


@dataclass(frozen=True, slots=True)
class Launch:
    """A server's settings with every secret reference resolved (values registered with the redactor)."""

    env: dict[str, str]
    headers: dict[str, str]
    cwd: Path | None


def resolve_launch(
    name: str, settings: McpServerSettings, root: Path | None, environ: Mapping[str, str] | None = None
) -> Launch:
    """Resolve references in `env` and `headers`; the server starts in the folder the user approved
    (`working_directory`)."""
    environ = os.environ if environ is None else environ
    prefix = f"byok.mcp.servers.{name}"
    env = {key: resolve(value, f"{prefix}.env.{key}", environ) for key, value in settings.env.items()}
    headers = {
        key: resolve(value, f"{prefix}.headers.{key}", environ) for key, value in settings.headers.items()
    }
    return Launch(env, headers, Path(working_directory(settings, root)))


def literal_launch(settings: McpServerSettings, root: Path | None) -> Launch:
    """A handed-over server's launch: values as given (a `${keyring:...}` in them is text, never a lookup);
    those that look like credentials are registered with the redactor."""
    for name, value in [*settings.env.items(), *settings.headers.items()]:
        if name.lower() == "authorization" or is_credential_variable(name, value):
            REDACTOR.register(value)
    cwd = Path(working_directory(settings, root)) if settings.cwd else root  # a relative cwd: in the root
    return Launch(dict(settings.env), dict(settings.headers), cwd)
