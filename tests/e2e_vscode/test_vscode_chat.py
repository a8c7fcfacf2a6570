"""End to end: the chat view in a real VS Code (code-server + Chromium, see harness.py and drive_chat.mjs).

Context chips (the active file and its selection attached by default; the selection chip removed; a file
added with +), a scripted
markdown answer (heading, list, code block), Apply on that block as a diff (Reject leaves the file, Accept
changes the buffer as one undoable edit), reasoning collapsed with a retry wait shown inline and cached
tokens in the footer, the model picker (the fake sees the new model), an error with its cause, fix and
buttons, a composer answer with its files and its Restore button driven (the modal confirmation, the file
back in the buffer and on disk, Undo Restore offered and undoing it), an agent answer with its tool call as a
collapsible line, and New chat. The real MCP server server-everything (tests/mcp_servers/setup.sh) starts on
launch (asked in a modal dialog); `@` typed in the input opens the context pick, which offers its resources:
the one picked becomes an `mcp://` chip, the `@` leaves the input, and the request the fake receives carries
the resource's text. Screenshots of each step go to a temp dir (printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.fake_openai import CHAT_ANSWER, FakeOpenAI, Reply, Script
from tests.e2e_vscode.harness import (
    BAD_PROVIDER,
    KEY,
    PROVIDER,
    REPO,
    CodeServer,
    assert_no_key_in_logs,
    assert_screenshots,
    base_settings,
    byok_server,
    drive,
    run,
    server_env,
)

pytestmark = pytest.mark.browser

SOURCE = """def add(a, b):
    return a + b


def unrelated():
    return "keep me"
"""
PLAN = (
    "# Refactor plan\n\n- keep `add`\n- change `unrelated`\n\n"
    '```python\ndef unrelated():\n    return "kept and applied"\n```\n'
)
COMPOSED = 'FILE: calc.py\n```python\ndef unrelated():\n    return "composed"\n```\n'
SCRIPTS = [
    Script(lambda r: "refactor plan" in r.asked, Reply(PLAN)),
    Script(
        lambda r: "think it over" in r.asked.lower(),
        Reply("Thought about it.", reasoning="weighing the options first", cached_tokens=30, rate_limited=1),
    ),
    Script(lambda r: "compose the change" in r.asked.lower(), Reply(COMPOSED)),
    Script(
        lambda r: "inspect calc" in r.asked.lower() and r.payload["messages"][-1]["role"] != "tool",
        Reply("Reading it first.", tool_calls=(("read_file", {"path": "calc.py"}),)),
    ),
    Script(lambda r: "inspect calc" in r.asked.lower(), Reply("calc.py defines add and unrelated.")),
    # calc.py goes as context, and the shared inline-edit script answers any prompt holding `def add(`
    Script(lambda r: r.asked.startswith("Say hello"), Reply(CHAT_ANSWER)),
]


MCP_RESOURCE = "architecture.md"
"""A static document server-everything offers (demo://resource/static/document/architecture.md)."""


def _everything_js() -> Path:
    servers = run(["bash", str(REPO / "tests" / "mcp_servers" / "setup.sh")], REPO, timeout=900)
    path = (
        Path(servers.strip().splitlines()[-1])
        / "node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    )
    assert path.is_file(), path
    return path


def test_vscode_chat_view(env_ready: dict[str, Any], tmp_path: Path, screenshots: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    (workspace / "notes.md").write_text("Remember: unrelated must stay pure.\n")
    with FakeOpenAI(key=KEY, scripts=SCRIPTS) as fake:
        settings = base_settings([str(byok_server())], fake.base_url)
        settings["byok.models"].append({"id": "fake-broken", "provider": BAD_PROVIDER, "model": "fake-model"})
        # the edit lands at once here; the refactor preview (VS Code's default) is test_vscode_agent.py's
        settings["byok.composer"] = {"review": "apply"}
        settings["byok.mcp"] = {
            "startOnLaunch": True,
            "servers": {"everything": {"command": "node", "args": [str(_everything_js()), "stdio"]}},
        }
        with CodeServer(
            env_ready["cache"], env_ready["vsix"], tmp_path, settings, server_env(tmp_path)
        ) as code:
            result = drive(
                "drive_chat.mjs",
                env_ready["cache"],
                {
                    "url": code.url,
                    "workspace": str(workspace),
                    "file": str(source),
                    "screenshots": str(screenshots),
                    "provider": PROVIDER,
                    "key": KEY,
                    "planPrompt": "Give me a refactor plan",
                    "thinkPrompt": "Think it over",
                    "helloPrompt": "Say hello",
                    "composePrompt": "Compose the change",
                    "agentPrompt": "Inspect calc.py",
                    "addFile": "notes.md",
                    "brokenModel": "fake-broken",
                    "expectApplied": 'return "kept and applied"',
                    "expectComposed": 'return "composed"',
                    "mcpResource": MCP_RESOURCE,
                },
                tmp_path,
            )
        posts = [r for r in fake.requests if r["method"] == "POST"]

    def sent(words: str) -> str:
        """The whole prompt of the request whose last user message has `words`."""
        for post in posts:
            messages = post["json"]["messages"]
            if words in str([m for m in messages if m["role"] == "user"][-1]["content"]):
                return "\n".join(str(m["content"]) for m in messages)
        raise AssertionError(f"no request asked {words!r}")

    assert {"calc.py", "calc.py:1-2"} <= set(result["chips"]), result["chips"]
    assert "calc.py" in result["chipsAfterRemove"] and "calc.py:1-2" not in result["chipsAfterRemove"]
    assert "notes.md" in result["chipsAfterAdd"], result["chipsAfterAdd"]
    # `@` opened the pick with the files and the MCP server's resources; the picked one is a chip
    assert "Start MCP server" in result["mcpStart"], result["mcpStart"]
    assert any("calc.py" in row for row in result["atPickRows"]), result["atPickRows"]
    assert "demo://" in result["mcpRow"], result["mcpRow"]
    assert MCP_RESOURCE in result["mcpChip"]["label"], result["mcpChip"]
    assert "MCP resource" in result["mcpChip"]["title"], result["mcpChip"]
    assert result["inputAfterAt"] == "Explain ", result["inputAfterAt"]
    plan_prompt = sent("refactor plan")
    assert "unrelated must stay pure" in plan_prompt  # the file added with + went too
    assert "def add(a, b):" in plan_prompt  # the active file went as context
    assert "Selected in" not in plan_prompt  # the removed selection chip did not
    assert "mcp://everything/" in plan_prompt and "Architecture" in plan_prompt  # the MCP resource went
    md = result["markdown"]
    assert md["heading"] == "Refactor plan"
    assert md["items"] == ["keep add", "change unrelated"]
    assert 'return "kept and applied"' in md["code"]
    assert md["actions"] == ["Apply", "Insert", "Copy"]
    assert (
        '"keep me"' in result["editorAfterReject"] and "kept and applied" not in result["editorAfterReject"]
    )
    assert result["applyState"] == "accepted"
    assert '"keep me"' in result["editorAfterUndo"], "one Ctrl+Z did not undo the whole Apply"
    assert result["fileAfterApply"] == SOURCE.replace('"keep me"', '"kept and applied"')
    reasoning = result["reasoning"]
    assert reasoning["open"] is False and "weighing the options" in reasoning["text"]
    assert any("retrying in" in note for note in reasoning["notes"]), reasoning["notes"]
    assert "(30 cached)" in reasoning["footer"], reasoning["footer"]
    assert "fake-other" in result["modelFooter"]
    hello_models = [
        p["json"]["model"] for p in posts if "Say hello" in str(p["json"]["messages"][-1]["content"])
    ]
    assert hello_models[0] == "fake-other", hello_models  # the fake saw the picked model
    error = result["error"]
    assert error["cause"], error
    assert "Set API Key" in error["buttons"] and "Show Logs" in error["buttons"], error
    composer = result["composer"]
    assert composer["files"] == ["modify calc.py — applied"], composer
    assert composer["applied"] == "VS Code applied the edit."
    assert composer["restore"] == 1
    # Restore on that answer: confirmed, the file back in the buffer and (saved) on disk, Undo offered
    assert "Restore 1 file(s)" in result["restoreConfirm"], result["restoreConfirm"]
    assert "restored calc.py" in result["restoreToast"], result["restoreToast"]
    assert "Undo Restore" in result["restoreButtons"], result["restoreButtons"]
    assert result["fileAfterRestore"] == SOURCE.replace('"keep me"', '"kept and applied"')
    agent = result["agent"]
    assert agent["tools"] == ["read calc.py"], agent
    assert "def unrelated" in agent["detail"], agent  # the tool's result, opened
    assert "calc.py defines add and unrelated." in agent["text"], agent
    assert_no_key_in_logs(tmp_path)
    assert_screenshots(result)
