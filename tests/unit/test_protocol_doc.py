"""protocol.md, byok.base.names and the server's advertised commands must agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from byok.base.names import Command, ErrorCode, Notification
from byok.lsp.server import create_server

DOC = (Path(__file__).resolve().parents[2] / "protocol.md").read_text(encoding="utf-8")


def test_every_command_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^### `(byok\.[A-Za-z]+)`", DOC, re.MULTILINE))
    assert documented == {c.value for c in Command}


def test_every_notification_is_documented() -> None:
    documented = set(re.findall(r"^### `(byok/[A-Za-z]+)`", DOC, re.MULTILINE))
    assert documented == {n.value for n in Notification}


def test_every_error_code_is_in_the_table() -> None:
    errors_section = DOC.split("## Errors", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", errors_section, re.MULTILINE))
    assert documented == {c.value for c in ErrorCode}


def test_server_registers_exactly_the_documented_commands() -> None:
    server = create_server()
    assert set(server.protocol.fm.commands) == {c.value for c in Command}


CLIENT_PROTOCOL = (Path(__file__).resolve().parents[2] / "vscode-client" / "src" / "protocol.ts").read_text(
    encoding="utf-8"
)


def _client_object(name: str) -> set[str]:
    body = re.search(rf"export const {name} = \{{(.*?)\}} as const;", CLIENT_PROTOCOL, re.DOTALL)
    assert body, f"vscode-client/src/protocol.ts has no `export const {name}`"
    return set(re.findall(r"^\s*\w+: '([^']+)',$", body.group(1), re.MULTILINE))


def test_the_vscode_client_names_exactly_the_server_commands_and_notifications() -> None:
    assert _client_object("Command") == {c.value for c in Command}
    assert _client_object("Notification") == {n.value for n in Notification}


def test_the_vscode_client_names_commands_only_through_its_protocol_module() -> None:
    sources = (Path(__file__).resolve().parents[2] / "vscode-client" / "src").glob("*.ts")
    for source in sources:
        if source.name != "protocol.ts":
            literal = re.findall(r"['\"](byok[./][A-Za-z]+)['\"]", source.read_text(encoding="utf-8"))
            assert not [name for name in literal if name in {*Command, *Notification}], source.name


def test_the_vscode_ui_commands_are_the_contributed_ones_named_once() -> None:
    """Every command the extension contributes is in `UiCommand`, and no other module spells one out."""
    client = Path(__file__).resolve().parents[2] / "vscode-client"
    manifest = json.loads((client / "package.json").read_text(encoding="utf-8"))
    contributed = {entry["command"] for entry in manifest["contributes"]["commands"]}
    assert _client_object("UiCommand") == contributed
    for source in (client / "src").rglob("*.ts"):
        if source.name != "protocol.ts":
            assert not re.findall(r"['\"]byok\.ui\.", source.read_text(encoding="utf-8")), source.name


def test_the_acp_names_are_documented() -> None:
    from byok.base.names import AUTO_MODEL, AcpConfig, AcpMode, AcpPermission

    section = DOC.split("## ACP agent", 1)[1].split("\n## ", 1)[0]
    names = {*AcpMode, *AcpConfig, *AcpPermission, AUTO_MODEL}
    assert not [name for name in names if f"`{name}`" not in section]
