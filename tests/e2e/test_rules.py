"""End to end over stdio: project rules files reach the provider at the start of every feature's system prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import lsp_session
from tests.fakes import FakeServer, anthropic_stream, openai_stream

CHAT = ("POST", "/v1/chat/completions")
MESSAGES = ("POST", "/v1/messages")
RULES_START = "# Project rules\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def workspace(tmp_path: Path) -> Path:
    """One rules file of each kind, each with a marker word, plus the files the requests name."""
    ws = tmp_path / "ws"
    write(ws / "AGENTS.md", "MARK-AGENTS-ROOT\n")
    write(ws / "CLAUDE.md", "MARK-CLAUDE\n")
    write(ws / ".github/copilot-instructions.md", "MARK-COPILOT\n")
    write(
        ws / ".github/instructions/py.instructions.md", "---\napplyTo: '**/*.py'\n---\nMARK-INSTRUCTIONS-PY\n"
    )
    write(ws / ".cursor/rules/always.mdc", "---\nalwaysApply: true\n---\nMARK-CURSOR-ALWAYS\n")
    write(ws / ".cursor/rules/web.mdc", "---\nglobs: web/**/*.tsx\n---\nMARK-CURSOR-TSX\n")
    write(
        ws / ".cursor/rules/release.mdc", "---\ndescription: How to cut a release\n---\nMARK-CURSOR-RELEASE\n"
    )
    write(ws / ".cursorrules", "MARK-CURSORRULES\n")
    write(ws / ".clinerules/style.md", "MARK-CLINE\n")
    write(ws / ".windsurfrules", "MARK-WINDSURF\n")
    write(ws / "pkg/AGENTS.md", "MARK-AGENTS-PKG\n")
    write(ws / "pkg/mod.py", "def f():\n    return 1\n")
    write(ws / "web/app/page.tsx", "export const x = 1;\n")
    return ws


ALWAYS = (
    "MARK-USER",
    "MARK-AGENTS-ROOT",
    "MARK-CLAUDE",
    "MARK-COPILOT",
    "MARK-CURSORRULES",
    "MARK-WINDSURF",
    "MARK-CLINE",
    "MARK-CURSOR-ALWAYS",
)


def marks(system: str) -> list[str]:
    """The marker words in the order the prompt carries them."""
    found = [(system.index(word), word) for word in {w for w in system.split() if w.startswith("MARK-")}]
    return [word for _, word in sorted(found)]


def openai_system(fake: FakeServer, index: int = -1) -> str:
    messages = fake.requests[index].json()["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


def anthropic_system(body: dict[str, Any]) -> str:
    system = body["system"]
    return system if isinstance(system, str) else "".join(block["text"] for block in system)


async def test_every_rules_file_kind_reaches_chat_and_follows_changes(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    write(tmp_path / "config" / "byok" / "rules.md", "MARK-USER\n")
    fake.route(*CHAT, *[openai_stream(["ok"]) for _ in range(3)])
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        mod = (root / "pkg" / "mod.py").as_uri()
        chat = {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "model": "gpt-4o",
            "files": [mod],
        }
        await s.command("byok.chat", chat)
        system = openai_system(fake)
        assert system.startswith(RULES_START) and system.endswith("\n\n---\n\nBe brief.")
        assert marks(system) == [*ALWAYS, "MARK-INSTRUCTIONS-PY", "MARK-AGENTS-PKG"]
        assert "## pkg/AGENTS.md (for files matching pkg/**)" in system

        write(root / "AGENTS.md", "MARK-AGENTS-CHANGED\n")
        (root / ".windsurfrules").unlink()
        await s.command("byok.chat", {**chat, "files": [(root / "web/app/page.tsx").as_uri()]})
        system = openai_system(fake)
        assert "MARK-AGENTS-CHANGED" in system and "MARK-AGENTS-ROOT" not in system
        assert "MARK-WINDSURF" not in system
        assert "MARK-CURSOR-TSX" in system and "MARK-INSTRUCTIONS-PY" not in system

        await s.command(
            "byok.chat", {"messages": [{"role": "user", "content": "no system"}], "model": "gpt-4o"}
        )
        messages = fake.requests[-1].json()["messages"]
        assert [m["role"] for m in messages] == ["system", "user"]
        assert (
            messages[0]["content"].startswith(RULES_START) and "MARK-CURSOR-TSX" not in messages[0]["content"]
        )

        status = await s.command("byok.status")
        files = {entry["path"]: entry for entry in status["rules"]["files"]}
        assert files["AGENTS.md"] == {
            "path": "AGENTS.md",
            "kind": "agents",
            "bytes": 20,
            "appliesTo": "always",
        }
        assert files["pkg/AGENTS.md"]["appliesTo"] == ["pkg/**"]
        assert files[".cursor/rules/web.mdc"]["appliesTo"] == ["web/**/*.tsx"]
        assert files[".cursor/rules/release.mdc"]["appliesTo"] == "on request"
        assert files[str(tmp_path / "config" / "byok" / "rules.md")]["kind"] == "user"
        assert status["rules"]["truncated"] is False and status["rules"]["maxBytes"] == 32768


async def test_inline_edit_composer_and_agent_start_their_system_prompts_with_the_rules(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    write(tmp_path / "config" / "byok" / "rules.md", "MARK-USER\n")
    mod = root / "pkg" / "mod.py"
    fake.route(
        *CHAT,
        openai_stream(["return 2"]),
        openai_stream(["FILE: web/app/page.tsx\n```tsx\nexport const x = 2;\n```\n"]),
        openai_stream([], tool_calls=[("c1", "read_file", {"path": ".cursor/rules/release.mdc"})]),
        openai_stream(["Done."]),
    )
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        await s.command(
            "byok.inlineEdit",
            {
                "uri": mod.as_uri(),
                "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 12}},
                "instruction": "return 2",
                "model": "gpt-4o",
            },
        )
        system = openai_system(fake)
        assert system.startswith(RULES_START) and "inline edit" in system.split("\n---\n", 1)[1]
        assert marks(system) == [*ALWAYS, "MARK-INSTRUCTIONS-PY", "MARK-AGENTS-PKG"]

        await s.command(
            "byok.composer",
            {"instruction": "x is 2", "files": [(root / "web/app/page.tsx").as_uri()], "model": "gpt-4o"},
        )
        system = openai_system(fake)
        assert system.startswith(RULES_START) and "FILE: path" in system
        assert marks(system) == [*ALWAYS, "MARK-CURSOR-TSX"]

        result = await s.command("byok.agent", {"task": "Cut a release", "model": "gpt-4o"})
        assert result["stopReason"] == "done"
        first, second = openai_system(fake, -2), openai_system(fake, -1)
        assert first == second, "the system prompt is byte-stable across the agent's turns (prompt caching)"
        assert first.startswith(RULES_START) and "coding agent" in first
        assert marks(first) == list(ALWAYS), "conditional rules are listed for the agent, not sent"
        listing = first.split("## More rules", 1)[1]
        for line in (
            "- .cursor/rules/web.mdc: for files matching web/**/*.tsx",
            "- .github/instructions/py.instructions.md: for files matching **/*.py",
            "- pkg/AGENTS.md: for files matching pkg/**",
            "- .cursor/rules/release.mdc: How to cut a release",
        ):
            assert line in listing
        tool_result = fake.requests[-1].json()["messages"][-1]
        assert tool_result["role"] == "tool" and "MARK-CURSOR-RELEASE" in tool_result["content"]


async def test_anthropic_gets_the_rules_in_its_system_field_and_limits_apply(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    write(tmp_path / "outside.md", "MARK-OUTSIDE\n")
    settings = settings_for(
        fake,
        rules={"maxBytes": 29, "extraFiles": [str(tmp_path / "outside.md"), "../outside.md", ".cursorrules"]},
    )
    fake.route(*MESSAGES, anthropic_stream(["ok"]), anthropic_stream(["ok"]))
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        chat = {
            "messages": [{"role": "user", "content": "hi"}],
            "model": "claude-sonnet-4-5",
            "streamId": "c",
        }
        await s.command("byok.chat", chat)
        system = anthropic_system(fake.requests[-1].json())
        assert marks(system) == ["MARK-AGENTS-ROOT", "MARK-CLAUDE"]
        assert "MARK-COPILOT" not in system and "MARK-OUTSIDE" not in system
        assert system.endswith(
            "left out: .github/copilot-instructions.md, .cursorrules, .windsurfrules, "
            ".clinerules/style.md, .cursor/rules/always.mdc.]"
        )
        assert any("rules.maxBytes" in d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status")
        warnings = [m.message for m in s.client.messages]
        refused = [w for w in warnings if "outside.md is not used" in w]
        assert len(refused) == 2 and all("inside the workspace or byok's config dir" in w for w in refused)
        status = await s.command("byok.status")
        assert status["rules"]["truncated"] is True and status["rules"]["bytes"] == 29
        assert {r["path"] for r in status["rules"]["refused"]} == {
            str(tmp_path / "outside.md"),
            "../outside.md",
        }

        s.client.set_configuration({**settings, "rules": {"enabled": False}}, section="byok")
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            status = await s.command("byok.status")
            if not status["rules"]["enabled"]:
                break
        await s.command("byok.chat", chat)
        assert "system" not in fake.requests[-1].json(), "rules.enabled false: nothing is added"
