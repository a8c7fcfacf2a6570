"""End to end: composer and agent in a real VS Code (code-server + Chromium, see harness.py and drive_agent.mjs).

A real MCP server (mcp-server-time, from tests/mcp_servers/setup.sh) is configured. `BYOK: Composer` on a chat
view never opened puts it in Edit mode, and the run goes to byok.composer (no tools offered); with
`review: "preview"` (VS Code's default here) the refactor preview opens, where calc.py is ticked and NOTES.md
is not; Apply lands calc.py in the editor and the answer lists each file's outcome (NOTES.md rejected); saved,
calc.py is on disk. `BYOK: Agent` with the side bar closed opens the view in Agent mode (byok.agent: tools
offered); the agent's first run asks to start the MCP server (Start) and then about its `run_command`, both
in modal dialogs; Allow once runs it and its output reaches the answer. `BYOK: Restore Checkpoint` (quick
pick, modal confirmation) puts the files back. An agent run whose tools edit calc.py and create CHANGES.md
opens the refactor preview: calc.py accepted, CHANGES.md rejected, and the answer says so. `BYOK: MCP Servers`
shows the running server with its tools. A run_command question left unanswered past
`agent.permissionTimeoutS`: the chat says it timed out while the dialog is still up, and Allow clicked then
is ignored (a toast says so; the command never runs). Screenshots of each step go to a temp dir (printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.fake_openai import FakeOpenAI, Reply, Request, Script
from tests.e2e_vscode.harness import (
    KEY,
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
"""
COMPOSED_CALC = '''def add(a: int, b: int) -> int:
    """Return the sum of a and b."""
    return a + b
'''
COMPOSED_NOTES = "# Notes\n\n`add` has type hints now.\n"
COMPOSED = (
    f"FILE: calc.py\n```python\n{COMPOSED_CALC}```\n\nFILE: NOTES.md\n```markdown\n{COMPOSED_NOTES}```\n"
)
COMMAND = "echo agent-was-here"
TIDY_CALC = '''def add(a, b):
    """Tidied by the agent."""
    return a + b
'''
LATE_MARKER = "too-late.txt"
PERMISSION_TIMEOUT_S = 10
"""Long enough for the drive to answer the questions it answers, short enough to wait out once."""


def _tool_results(request: Request) -> list[str]:
    return [str(m.get("content", "")) for m in request.payload.get("messages", []) if m.get("role") == "tool"]


def _agent_summary(request: Request) -> Reply:
    return Reply(f"The command said: {_tool_results(request)[-1].strip()}")


SCRIPTS = [
    Script(lambda r: "give add type hints" in r.asked.lower(), Reply(COMPOSED)),
    Script(lambda r: "tidy calc" in r.asked.lower() and bool(_tool_results(r)), Reply("Tidied calc.py.")),
    Script(
        lambda r: "tidy calc" in r.asked.lower(),
        Reply(
            "Tidying.",
            tool_calls=(
                ("edit_file", {"path": "calc.py", "code": TIDY_CALC}),
                ("create_file", {"path": "CHANGES.md", "content": "- tidied calc.py\n"}),
            ),
        ),
    ),
    Script(lambda r: "touch the marker" in r.asked.lower() and bool(_tool_results(r)), _agent_summary),
    Script(
        lambda r: "touch the marker" in r.asked.lower(),
        Reply("Touching it.", tool_calls=(("run_command", {"command": f"touch {LATE_MARKER}"}),)),
    ),
    Script(lambda r: "run the check" in r.asked.lower() and bool(_tool_results(r)), _agent_summary),
    Script(
        lambda r: "run the check" in r.asked.lower(),
        Reply("Running it.", tool_calls=(("run_command", {"command": COMMAND}),)),
    ),
]


def _time_server() -> Path:
    servers = run(["bash", str(REPO / "tests" / "mcp_servers" / "setup.sh")], REPO, timeout=900)
    path = Path(servers.strip().splitlines()[-1]) / "venv" / "bin" / "mcp-server-time"
    assert path.is_file(), path
    return path


def test_vscode_composer_agent_checkpoint_mcp(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    calc = workspace / "calc.py"
    calc.write_text(SOURCE)
    notes = workspace / "NOTES.md"
    with FakeOpenAI(key=KEY, scripts=SCRIPTS) as fake:
        settings = base_settings([str(byok_server())], fake.base_url)
        settings["byok.mcp"] = {"servers": {"time": {"command": str(_time_server())}}}
        settings["byok.agent"] = {"permissionTimeoutS": PERMISSION_TIMEOUT_S}
        with CodeServer(
            env_ready["cache"], env_ready["vsix"], tmp_path, settings, server_env(tmp_path)
        ) as code:
            result = drive(
                "drive_agent.mjs",
                env_ready["cache"],
                {
                    "url": code.url,
                    "workspace": str(workspace),
                    "file": str(calc),
                    "notes": str(notes),
                    "screenshots": str(screenshots),
                    "provider": "local",
                    "key": KEY,
                    "composePrompt": "Give add type hints and a docstring, and write NOTES.md",
                    "expectComposed": "def add(a: int, b: int) -> int:",
                    "agentPrompt": "Run the check command",
                    "command": COMMAND,
                    "agentEditPrompt": "Tidy calc.py and log it in CHANGES.md",
                    "expectAgentEdit": "Tidied by the agent.",
                    "changes": str(workspace / "CHANGES.md"),
                    "latePrompt": "Touch the marker",
                    "lateMarker": str(workspace / LATE_MARKER),
                    "permissionTimeoutS": PERMISSION_TIMEOUT_S,
                },
                tmp_path,
                timeout=420,
            )
        posts = [r for r in fake.requests if r["method"] == "POST"]
        tool_posts = [r for r in posts if "tools" in r.get("json", {})]

    def asked(words: str) -> list[dict[str, Any]]:
        """The requests whose last user message has `words`."""
        return [
            p
            for p in posts
            if words in str([m for m in p["json"]["messages"] if m["role"] == "user"][-1]["content"]).lower()
        ]

    # the commands' modes reached the view (a never-opened one, a hidden one) and the runs went where they say
    assert result["composerMode"] == "edit", result["composerMode"]
    assert result["agentMode"] == "agent", result["agentMode"]
    assert all("tools" not in p["json"] for p in asked("give add type hints")), (
        "the composer run offered tools"
    )
    assert all("tools" in p["json"] for p in asked("run the check")), "the agent run offered no tools"
    assert "Start MCP server" in result["mcpStart"], result["mcpStart"]
    # calc.py ticked in the refactor preview, NOTES.md left unticked
    assert sorted(result["composerFiles"]) == ["create NOTES.md — rejected", "modify calc.py — applied"], (
        result
    )
    assert result["composerApplied"] == "VS Code applied the edit."
    assert result["calcAfterComposer"] == COMPOSED_CALC
    assert result["notesAfterComposer"] is None
    assert "wants to run a command" in result["agentAsk"], result["agentAsk"]
    assert COMMAND in result["agentAskDetail"], result["agentAskDetail"]
    assert "agent-was-here" in result["agentAnswer"], result["agentAnswer"]
    assert any(COMMAND in line and "exit 0" in line for line in result["agentTools"]), result["agentTools"]
    assert any(
        name.startswith("mcp__time__")
        for r in tool_posts
        for name in [t["function"]["name"] for t in r["json"]["tools"]]
    ), "the MCP server's tools were not offered"
    assert "Composer" in result["checkpointPick"][0], result["checkpointPick"]
    assert "Restore 2 file(s)" in result["restoreConfirm"], result["restoreConfirm"]
    assert "restored" in result["restored"], result["restored"]
    assert result["calcAfterRestore"] == SOURCE
    assert result["notesAfterRestore"] is None
    # the agent's edits through the refactor preview: calc.py accepted, CHANGES.md rejected
    assert sorted(result["agentEditFiles"]) == ["create CHANGES.md — rejected", "modify calc.py — applied"], (
        result["agentEditFiles"]
    )
    assert result["agentEditApplied"] == "VS Code applied the edit."
    assert result["calcAfterAgentEdit"] == TIDY_CALC
    assert result["changesAfterAgentEdit"] is None
    assert any("time" in row and "running" in row for row in result["mcpRows"]), result["mcpRows"]
    assert "get_current_time" in result["mcpDocument"], result["mcpDocument"]
    # the question nobody answered in time: said in the chat and a warning; the late Allow ignored
    assert "wants to run a command" in result["lateAsk"], result["lateAsk"]
    assert "wants to run a command" in result["lateNote"], result["lateNote"]
    assert "came too late" in result["lateToast"], result["lateToast"]
    assert any("not run" in line for line in result["lateTools"]), result["lateTools"]
    assert any("No answer in time" in note for note in result["lateNotes"]), result["lateNotes"]
    assert not result["lateMarker"], "the command ran on an Allow given after its question timed out"
    assert_no_key_in_logs(tmp_path)
    assert_screenshots(result)
