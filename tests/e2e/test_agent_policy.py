"""End to end over stdio: remembered approvals, the agent's command policy, parallel read-only calls and review before apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter
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


async def test_read_only_calls_of_one_step_answer_in_the_models_order(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("A = 1\n")
    (root / "src" / "b.py").write_text("B = 2\n")
    calls = [
        ("r1", "read_file", {"path": "src/b.py"}),
        ("r2", "search", {"query": "A ="}),
        ("r3", "list_files", {"path": "src"}),
        ("r4", "read_file", {"path": "src/a.py"}),
        ("w1", "create_file", {"path": "src/c.py", "content": "C = 3\n"}),
        ("r5", "read_file", {"path": "src/c.py"}),
        ("r6", "search", {"query": "C = 3"}),
    ]
    fake.route(*CHAT, openai_stream([], tool_calls=calls), openai_stream(["done"]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
    sent = fake.requests[-1].json()["messages"]
    answered = [(m["tool_call_id"], m["content"]) for m in sent if m["role"] == "tool"]
    assert [call_id for call_id, _ in answered] == [call_id for call_id, _, _ in calls]
    contents = dict(answered)
    assert contents["r1"] == "B = 2\n" and contents["r4"] == "A = 1\n"
    assert contents["r2"] == "src/a.py:1: A = 1" and contents["r3"] == "src/a.py\nsrc/b.py"
    assert contents["r5"] == "C = 3\n", "a read after an edit runs after it and sees it"
    assert contents["r6"] == "src/c.py:1: C = 3"
    assert [c["name"] for c in result["steps"][0]["toolCalls"]] == [name for _, name, _ in calls]


APP = "def f():\n    return 1\n\n\ndef g():\n    return 3\n"
COMPOSER_ANSWER = """Changing f, adding util, dropping old.

FILE: src/app.py
```python
def f():
    return 2
```

FILE: src/util.py
```python
U = 1
```

DELETE: src/old.py
"""


def review_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "src" / "old.py").write_text("OLD = 1\n")
    return root


def assert_annotated_for_review(edit: dict[str, Any], who: str) -> None:
    """One annotation per file, needing confirmation and naming who changes it and how; every change annotated."""
    annotations = edit["changeAnnotations"]
    assert all(a["needsConfirmation"] is True for a in annotations.values())
    labels = sorted(a["label"] for a in annotations.values())
    assert labels == [f"{who}: create src/util.py", f"{who}: delete src/old.py", f"{who}: edit src/app.py"]
    per_file: dict[str, set[str]] = {}
    for entry in edit["documentChanges"]:
        uri = entry["textDocument"]["uri"] if "textDocument" in entry else entry["uri"]
        ids = (
            [e["annotationId"] for e in entry["edits"]]
            if "textDocument" in entry
            else [entry["annotationId"]]
        )
        per_file.setdefault(uri, set()).update(ids)
    assert all(len(ids) == 1 for ids in per_file.values()), per_file
    assert sorted(i for ids in per_file.values() for i in ids) == sorted(annotations)


async def test_composer_preview_edits_carry_change_annotations(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = review_workspace(tmp_path)
    fake.route(*CHAT, openai_stream([COMPOSER_ANSWER]), openai_stream([COMPOSER_ANSWER]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        plain = await s.command("byok.composer", {"instruction": "go", "model": "gpt-4o"})
        assert "changeAnnotations" not in plain["edit"], "apply is the default"
        assert not any("annotationId" in json.dumps(c) for c in plain["edit"]["documentChanges"])
        previewed = await s.command(
            "byok.composer", {"instruction": "go", "model": "gpt-4o", "review": "preview", "apply": True}
        )
        assert_annotated_for_review(previewed["edit"], "byok composer")
        sent = get_converter().unstructure(s.apply_edits[-1].edit, types.WorkspaceEdit)
        assert_annotated_for_review(sent, "byok composer")
        with pytest.raises(JsonRpcException) as bad:
            await s.command("byok.composer", {"instruction": "go", "review": "later"})
        assert bad.value.code == -32602 and "review" in bad.value.message
    assert (root / "src" / "app.py").read_text() == APP, "nothing is written until the editor applies it"


async def test_agent_preview_from_settings(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = review_workspace(tmp_path)
    calls = [
        ("e1", "edit_file", {"path": "src/app.py", "code": "def f():\n    return 2\n"}),
        ("e2", "create_file", {"path": "src/util.py", "content": "U = 1\n"}),
    ]
    fake.route(*CHAT, openai_stream([], tool_calls=calls), openai_stream(["done"]))
    settings = settings_for(fake, agent={"review": "preview"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        annotations = result["edits"]["changeAnnotations"]
        assert sorted(a["label"] for a in annotations.values()) == [
            "byok agent: create src/util.py",
            "byok agent: edit src/app.py",
        ]
        sent = get_converter().unstructure(s.apply_edits[-1].edit, types.WorkspaceEdit)
        assert sent["changeAnnotations"] == annotations
        fake.route(*CHAT, openai_stream([], tool_calls=calls), openai_stream(["done"]))
        applied = await s.command("byok.agent", {"task": "go", "model": "gpt-4o", "review": "apply"})
        assert "changeAnnotations" not in applied["edits"], "the request's review beats the setting"


async def test_a_command_allowed_by_pattern_gets_the_scrubbed_environment(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """No question is shown, so nothing would catch a leak: the pattern-allowed command still gets only the
    allow-listed variables, never a key, token, credential or agent socket."""
    root = tmp_path / "ws"
    root.mkdir()
    env = {
        **server_env,
        "OPENAI_API_KEY": TEST_KEY_OPENAI,
        "GITHUB_TOKEN": "ghp_TESTtoken",
        "DATABASE_PASSWORD": "TESTpassword",
        "SSH_AUTH_SOCK": "/tmp/TESTagent.sock",
        "GIT_ASKPASS": "/usr/bin/TESTaskpass",
        "TOOLCHAIN_HOME": "/opt/TESTtool",
    }
    settings = settings_for(
        fake,
        agent={
            "commands": {"allow": ["env"]},
            "commandEnv": ["SSH_AUTH_SOCK", "GIT_ASKPASS", "GITHUB_TOKEN", "TOOLCHAIN_HOME"],
        },
    )
    async with lsp_session(settings, env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        run_commands(fake, "env")
        await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        assert s.message_requests == [], "allowed by pattern: not asked"
    output = results(fake)[0]
    assert "exit code 0" in output and "TOOLCHAIN_HOME=/opt/TESTtool" in output and "PATH=" in output
    for leaked in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DATABASE_PASSWORD", "SSH_AUTH_SOCK", "GIT_ASKPASS"):
        assert f"{leaked}=" not in output, leaked
