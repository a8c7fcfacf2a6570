"""End to end: inline edit with a diff preview, the status bar's spend against the budget, and the
getting-started walkthrough, in code-server + Chromium.

Uses harness.py (code-server with the .vsix, the loopback fake provider) and drive_inline.mjs.
`test_vscode_inline_edit_preview_and_status`: this month's ledger (a real one in the run's data dir) already
holds $15.95 of a $20 budget, so the status bar starts below 80 % in the normal colour; the walkthrough shows
no step done. Set the key; Ctrl+K on a selected function streams the proposal into a diff editor with Accept /
Reject CodeLenses while the file stays clean; Esc rejects (file and buffer untouched); Ctrl+Enter accepts and
one Ctrl+Z restores the function. Those two requests through the fake push the spend past 80 %: the item shows
`fake-model · $16.07 / $20` in the warning colour; its quick pick switches the chat model in the user
settings. Verify the key and get a chat answer: the walkthrough shows all four steps ticked. Lowering the
budget to $16 turns the item the error colour. `test_vscode_inline_cancel_while_streaming`: Esc, then the
Cancel CodeLens, while the fake still streams the answer close the diff, leave the file as it was and cancel
the request (the fake sees the connection closed). Screenshots of every step are kept (path printed).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from byok.base.config import BudgetSettings
from byok.core.ledger import Ledger, default_path
from byok.core.prices import Quote
from tests.e2e_vscode.fake_openai import FakeOpenAI, Reply, Script
from tests.e2e_vscode.harness import (
    KEY,
    PROVIDER,
    CodeServer,
    base_settings,
    byok_server,
    drive,
    server_env,
)
from tests.e2e_vscode.test_vscode import SOURCE

pytestmark = pytest.mark.browser

PRICE = {"input": 1000.0, "output": 1000.0}  # USD per 1M tokens: the fake's 42 + 17 tokens cost $0.059
BUDGET = 20
EARLIER_SPEND = 15.95  # 79.75 % of the budget; two requests more make it 80.3 %
LOWER_BUDGET = 16
INSTRUCTION = "rename to add_numbers and add type hints and a docstring"
FIRST_LINE = "def add_numbers(a: int, b: int) -> int:"
HELD = Reply(FIRST_LINE + "\n" + "    # still writing\n" * 300, chunk=20, pause=0.2)  # about a minute


def _usd(amount: float) -> str:
    return f"${amount:.2f}"


def seed_spend(data_home: Path, usd: float, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This month's ledger (where the server under code-server will find it) holding one earlier request of
    `usd`; its path."""
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    path = default_path()
    with Ledger(path) as ledger:
        earlier = ledger.reserve(
            provider=PROVIDER, model="fake-model", feature="chat", quote=Quote(0.0), budget=BudgetSettings()
        )
        ledger.settle(
            earlier,
            input_tokens=12_000,
            output_tokens=3_000,
            estimated=False,
            cost_usd=usd,
            outcome="ok",
            request_id="earlier-this-month",
        )
    return path


def test_vscode_inline_edit_preview_and_status(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    assert seed_spend(tmp_path / "xdg-data", EARLIER_SPEND, monkeypatch).is_file()
    env = server_env(tmp_path)
    request_usd = (42 + 17) * PRICE["input"] / 1e6
    after_inline = EARLIER_SPEND + 2 * request_usd
    after_chat = after_inline + request_usd
    with FakeOpenAI(key=KEY) as fake:
        settings = base_settings([str(byok_server())], fake.base_url)
        settings["byok.prices"] = {"fake-model": PRICE, "fake-other": PRICE}
        settings["byok.budget"] = {"monthlyUsd": BUDGET}
        with CodeServer(env_ready["cache"], env_ready["vsix"], tmp_path, settings, env) as code:
            result = drive(
                "drive_inline.mjs",
                env_ready["cache"],
                {
                    "scenario": "preview",
                    "url": code.url,
                    "workspace": str(workspace),
                    "file": str(source),
                    "screenshots": str(screenshots),
                    "provider": PROVIDER,
                    "key": KEY,
                    "selectLines": 2,
                    "instruction": INSTRUCTION,
                    "expectInEditor": FIRST_LINE,
                    "expectSpendBefore": f"{_usd(EARLIER_SPEND)} / ${BUDGET}",
                    "expectSpend": f"{_usd(after_inline)} / ${BUDGET}",
                    "lowerBudget": LOWER_BUDGET,
                    "expectOverBudget": f"{_usd(after_chat)} / ${LOWER_BUDGET}",
                    "userSettingsDir": str(code.user_data / "User"),
                    "machineSettingsDir": str(code.user_data / "Machine"),
                },
                tmp_path,
            )
        inline_posts = [
            r for r in fake.requests if r["method"] == "POST" and INSTRUCTION in json.dumps(r["json"])
        ]

    preview = result["inlinePreview"]
    assert FIRST_LINE in preview["modified"]
    assert preview["insertedLines"] >= 2 and preview["removedLines"] >= 1, preview
    assert any("Accept" in lens for lens in preview["lenses"]), preview["lenses"]
    assert any("Reject" in lens for lens in preview["lenses"]), preview["lenses"]
    assert preview["dirtyWhilePreviewing"] == 0, "previewing dirtied the document"
    rejected = result["inlineRejected"]
    assert rejected["disk"] == SOURCE
    assert "def add(a, b):" in rejected["editor"] and "add_numbers" not in rejected["editor"]
    assert rejected["dirty"] == 0, "Reject left the document dirty"
    assert FIRST_LINE in result["inlineAccepted"]
    assert '"""Return the sum of a and b."""' in result["inlineAccepted"]
    undone = result["inlineUndone"]
    assert "def add(a, b):" in undone and "return a + b" in undone and "Return the sum" not in undone
    assert source.read_text() == SOURCE  # nothing was saved: the accepted edit lives in the buffer
    assert len(inline_posts) == 2  # one request per preview

    # below 80 %: no colour; the two inline requests cross 80 %: warning; a budget under the spend: error
    below, warning, error = result["statusBelow"], result["statusWarning"], result["statusError"]
    assert f"{_usd(EARLIER_SPEND)} / ${BUDGET}" in below["text"]
    assert "warning-kind" not in below["classes"] and "error-kind" not in below["classes"], below
    assert below["background"] != warning["warningBackground"], below
    assert "fake-model" in warning["text"] and f"{_usd(after_inline)} / ${BUDGET}" in warning["text"]
    assert "warning-kind" in warning["classes"], warning
    assert _rgb(warning["background"]) == _rgb(warning["warningBackground"]), warning
    assert f"{_usd(after_chat)} / ${LOWER_BUDGET}" in error["text"]
    assert "error-kind" in error["classes"], error
    assert _rgb(error["background"]) == _rgb(error["errorBackground"]), error

    assert "fake-other" in result["switchedText"]
    assert result["switchedSettings"]["byok.features"]["chat"] == "fake-other"
    assert result["switchedSettings"]["byok.features"]["inlineEdit"] == "fake-model"
    assert "key OK" in result["verified"]
    assert "fake-other" in result["chatFooter"], result["chatFooter"]
    steps = ["Set an API key", "Verify the key", "Your first chat", "Your first inline edit"]
    assert [s["title"] for s in result["walkthroughBefore"]][:4] == steps
    assert not any(s["done"] for s in result["walkthroughBefore"]), result["walkthroughBefore"]
    assert [s["done"] for s in result["walkthroughAfter"] if s["title"] in steps] == [True] * 4, result[
        "walkthroughAfter"
    ]
    assert KEY not in json.dumps(result)
    for step in result["steps"]:
        assert Path(step["screenshot"]).stat().st_size > 10_000


def _rgb(color: str) -> tuple[int, int, int]:
    """`rgb(r, g, b)` / `rgba(...)` / `#rrggbb[aa]` as (r, g, b)."""
    color = color.strip()
    if color.startswith("#"):
        return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
    parts = color[color.index("(") + 1 : color.index(")")].split(",")
    return (int(float(parts[0])), int(float(parts[1])), int(float(parts[2])))


def test_vscode_inline_cancel_while_streaming(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    env = server_env(tmp_path)
    with FakeOpenAI(key=KEY, scripts=[Script(lambda r: "def add(" in r.prompt, HELD)]) as fake:
        settings = base_settings([str(byok_server())], fake.base_url)
        with CodeServer(env_ready["cache"], env_ready["vsix"], tmp_path, settings, env) as code:
            result = drive(
                "drive_inline.mjs",
                env_ready["cache"],
                {
                    "scenario": "cancel",
                    "url": code.url,
                    "workspace": str(workspace),
                    "file": str(source),
                    "screenshots": str(screenshots),
                    "provider": PROVIDER,
                    "key": KEY,
                    "selectLines": 2,
                    "instruction": INSTRUCTION,
                    "expectStreaming": FIRST_LINE,
                },
                tmp_path,
            )
            deadline = time.monotonic() + 10
            inline_posts = [r for r in fake.requests if r["method"] == "POST"]
            while not all(r.get("aborted") for r in inline_posts) and time.monotonic() < deadline:
                time.sleep(0.1)

    assert len(inline_posts) == 2, inline_posts  # one request per Ctrl+K
    # the server closed each upstream stream long before its minute was over: the cancel reached it
    assert all(r.get("aborted") for r in inline_posts), "a cancelled inline edit kept streaming"
    for how in ("escape", "lens"):
        cancelled = result[f"cancelled_{how}"]
        assert any("Cancel" in lens for lens in cancelled["lenses"]), cancelled
        assert cancelled["diffs"] == 0, f"{how}: the diff stayed open"
        assert cancelled["disk"] == SOURCE, how
        assert "def add(a, b):" in cancelled["editor"] and "add_numbers" not in cancelled["editor"], how
        assert cancelled["dirty"] == 0, f"{how}: the document was dirtied"
    assert KEY not in json.dumps(result)
    for step in result["steps"]:
        assert Path(step["screenshot"]).stat().st_size > 10_000
