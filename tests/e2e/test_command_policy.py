"""End to end over stdio: remembered approvals (`byok.forgetApprovals`, `byok approvals`) and the agent's command policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from byok.core.approvals import GLOBAL_SCOPE, Approvals, workspace_scope
from tests.conftest import TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import lsp_session
from tests.e2e.test_cli import byok
from tests.fakes import FakeServer, openai_stream


def store(env: dict[str, str]) -> Approvals:
    """The approvals store of the server (and CLI) started with `env`."""
    return Approvals(Path(env["XDG_DATA_HOME"]) / "byok" / "approvals")


async def test_forget_approvals_clears_the_workspace_and_global_ones(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    approvals = store(server_env)
    approvals.remember(workspace_scope(here), "command:pytest")
    approvals.remember(workspace_scope(here), "mcp-tool:everything/echo")
    approvals.remember(workspace_scope(elsewhere), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "ab" * 32)
    async with lsp_session({}, server_env, root=here.as_uri()) as s:
        with pytest.raises(JsonRpcException) as bad:
            await s.command("byok.forgetApprovals", {"all": "every one"})
        assert bad.value.code == -32602 and "all" in bad.value.message
        assert await s.command("byok.forgetApprovals", {}) == {"forgotten": 3}
        assert approvals.scopes() == [workspace_scope(elsewhere)]
        assert await s.command("byok.forgetApprovals", {}) == {"forgotten": 0}
        assert await s.command("byok.forgetApprovals", {"all": True}) == {"forgotten": 1}
        assert approvals.scopes() == []


def test_cli_lists_and_forgets_approvals(server_env: dict[str, str], tmp_path: Path) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    approvals = store(server_env)
    approvals.remember(workspace_scope(here), "command:pytest")
    approvals.remember(workspace_scope(elsewhere), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "cd" * 32)
    listed = byok(server_env, "approvals")
    assert listed.returncode == 0, listed.stderr
    assert "command:pytest" in listed.stdout and "command:make" in listed.stdout
    only_here = json.loads(byok(server_env, "--json", "approvals", "--workspace", str(here)).stdout)
    assert only_here["scopes"] == {
        GLOBAL_SCOPE: ["mcp-start:" + "cd" * 32],
        workspace_scope(here): ["command:pytest"],
    }
    forgot = byok(server_env, "approvals", "--forget", "--workspace", str(here))
    assert forgot.returncode == 0 and "Forgot 2 approval(s)" in forgot.stdout
    assert approvals.scopes() == [workspace_scope(elsewhere)]
    everything = byok(server_env, "approvals", "--forget")
    assert "Forgot 1 approval(s)" in everything.stdout and "No approvals are remembered" in everything.stdout
    assert approvals.scopes() == []


CHAT = ("POST", "/v1/chat/completions")


def run_commands(fake: FakeServer, *commands: str) -> None:
    """The model's next run: one step calling run_command for each command, then a summary."""
    calls = [(f"c{i}", "run_command", {"command": command}) for i, command in enumerate(commands)]
    fake.route(*CHAT, openai_stream([], tool_calls=calls), openai_stream(["done"]))


def results(fake: FakeServer) -> list[str]:
    """The tool results of the last request, in order."""
    return [m["content"] for m in fake.requests[-1].json()["messages"] if m["role"] == "tool"]


async def test_run_command_allowed_by_pattern_asked_denied_and_remembered(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    settings = settings_for(
        fake,
        agent={
            "commands": {"allow": ["touch allowed*", "echo *"], "deny": ["rm *", "touch denied*"]},
            "allowCommands": True,
        },
    )
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        s.message_answer = "Deny"
        run_commands(
            fake,
            "touch allowed.txt && echo made",  # every part allowed: runs, nobody asked
            "touch denied.txt",  # denied: refused without asking, whatever allowCommands says
            "echo x; rm -rf sub",  # one part denied: the whole command is refused
            "touch asked.txt",  # no pattern: asked, and the answer (Deny) holds
            "touch allowed2.txt > log.txt",  # a redirection to a file: asked
        )
        await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        allowed, denied, denied_part, asked, redirected = results(fake)
        assert "exit code 0" in allowed and "made" in allowed and (root / "allowed.txt").exists()
        assert "deny" in denied and "touch denied*" in denied and not (root / "denied.txt").exists()
        assert "`rm -rf sub` matches the deny pattern `rm *`" in denied_part
        assert "did not allow" in asked and not (root / "asked.txt").exists()
        assert "did not allow" in redirected and not (root / "log.txt").exists()
        questions = [r.message for r in s.message_requests]
        assert len(questions) == 2
        assert (
            "touch asked.txt" in questions[0] and "no allow pattern matches `touch asked.txt`" in questions[0]
        )
        assert "a redirection to a file" in questions[1]
        titles = [[a.title for a in r.actions or []] for r in s.message_requests]
        assert titles == [["Allow once", "Always allow `touch …` here", "Deny"], ["Allow once", "Deny"]]

        s.message_answer = "Always allow `touch …` here"
        run_commands(fake, "touch remembered.txt")
        await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        assert (root / "remembered.txt").exists() and len(s.message_requests) == 3
        assert store(server_env).remembered(workspace_scope(root)) == ["command:touch"]

        s.message_answer = "Deny"
        run_commands(fake, "touch again.txt", "touch denied-still.txt", "touch x.txt | make")
        await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        again, still_denied, piped = results(fake)
        assert "exit code 0" in again and (root / "again.txt").exists(), "remembered: not asked again"
        assert "deny" in still_denied, "deny beats a remembered program"
        assert "did not allow" in piped, "a remembered program allows its own parts only"
        assert len(s.message_requests) == 4 and "make" in s.message_requests[-1].message

        assert await s.command("byok.forgetApprovals", {}) == {"forgotten": 1}
        run_commands(fake, "touch forgotten.txt")
        await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        assert "did not allow" in results(fake)[0] and len(s.message_requests) == 5
        assert not (root / "forgotten.txt").exists()
