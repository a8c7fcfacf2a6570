"""End to end: inline edit with a diff preview, and the status bar's spend, in code-server + Chromium.

Uses harness.py (code-server with the .vsix, the loopback fake provider) and drive_inline.mjs. The
scenario: set the key; Ctrl+K on a selected function streams the proposal into a diff editor with Accept /
Reject CodeLenses while the file stays clean; Esc rejects (file and buffer untouched); Ctrl+Enter accepts and
one Ctrl+Z restores the function; the status bar shows `fake-model · $0.12 / $20` and its quick pick
switches the chat model in the user settings; the getting-started walkthrough lists its steps. Screenshots of every step are kept (path printed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.fake_openai import FakeOpenAI
from tests.e2e_vscode.harness import KEY, CodeServer, base_settings, byok_server, drive, server_env
from tests.e2e_vscode.test_vscode import SOURCE

pytestmark = pytest.mark.browser

PRICE = {"input": 1000.0, "output": 1000.0}  # USD per 1M tokens: the fake's 42 + 17 tokens cost $0.059
BUDGET = 20


def test_vscode_inline_edit_preview_and_status(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    env = server_env(tmp_path)
    with FakeOpenAI(key=KEY) as fake:
        settings = base_settings([str(byok_server())], fake.base_url)
        settings["byok.prices"] = {"fake-model": PRICE}
        settings["byok.budget"] = {"monthlyUsd": BUDGET}
        with CodeServer(env_ready["cache"], env_ready["vsix"], tmp_path, settings, env) as code:
            result = drive(
                "drive_inline.mjs",
                env_ready["cache"],
                {
                    "url": code.url,
                    "workspace": str(workspace),
                    "file": str(source),
                    "screenshots": str(screenshots),
                    "provider": "local",
                    "key": KEY,
                    "selectLines": 2,
                    "instruction": "rename to add_numbers and add type hints and a docstring",
                    "expectInEditor": "def add_numbers(a: int, b: int) -> int:",
                    "expectSpend": f"$0.12 / ${BUDGET}",
                    "userSettingsDir": str(code.user_data / "User"),
                },
                tmp_path,
            )
        inline_posts = [r for r in fake.requests if r["method"] == "POST"]

    preview = result["inlinePreview"]
    assert "def add_numbers(a: int, b: int) -> int:" in preview["modified"]
    assert preview["insertedLines"] >= 2 and preview["removedLines"] >= 1, preview
    assert any("Accept" in lens for lens in preview["lenses"]), preview["lenses"]
    assert any("Reject" in lens for lens in preview["lenses"]), preview["lenses"]
    assert preview["dirtyWhilePreviewing"] == 0, "previewing dirtied the document"
    rejected = result["inlineRejected"]
    assert rejected["disk"] == SOURCE
    assert "def add(a, b):" in rejected["editor"] and "add_numbers" not in rejected["editor"]
    assert rejected["dirty"] == 0, "Reject left the document dirty"
    assert "def add_numbers(a: int, b: int) -> int:" in result["inlineAccepted"]
    assert '"""Return the sum of a and b."""' in result["inlineAccepted"]
    undone = result["inlineUndone"]
    assert "def add(a, b):" in undone and "return a + b" in undone and "Return the sum" not in undone
    assert source.read_text() == SOURCE  # nothing was saved: the accepted edit lives in the buffer
    assert len(inline_posts) == 2  # one request per preview

    assert "fake-model" in result["spendText"] and f"$0.12 / ${BUDGET}" in result["spendText"]
    assert "fake-other" in result["switchedText"]
    assert result["switchedSettings"]["byok.features"]["chat"] == "fake-other"
    assert result["switchedSettings"]["byok.features"]["inlineEdit"] == "fake-model"
    assert result["walkthroughSteps"][:4] == [
        "Set an API key",
        "Verify the key",
        "Your first chat",
        "Your first inline edit",
    ]
    assert KEY not in json.dumps(result)
    for step in result["steps"]:
        assert Path(step["screenshot"]).stat().st_size > 10_000
