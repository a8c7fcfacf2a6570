"""End to end: the byok VS Code extension in a real VS Code (code-server 4.100.3) in Debian's Chromium.

The test builds and packages the .vsix, installs it into code-server with temporary user-data and extension
dirs, points an OpenAI-compatible provider id at a loopback fake (fake_openai.py), and drives the workbench with
playwright-core (drive.mjs): set a key in the password box, verify it (and a wrong key for a second id, then
delete that key), Ctrl+K inline edit of a selected function, a streamed chat and a stopped one in the chat view, Apply of a chat
code block, a markdown answer (heading, list, code block; no raw HTML), the model picker, Tab ghost text from the built-in model, Show Usage, the status bar tooltip; then checks that the
key is in no log. A second test: a missing server command gives an error notification whose Show Logs works.
Screenshots of every step go to a temp dir (printed; kept with the logs when a test fails).

Installs come from setup.sh (code-server + playwright-core from npm into ${BYOK_CACHE_DIR:-~/.cache/byok-ci},
Debian chromium), reused when present. Skip with BYOK_NO_BROWSER=1 (`bash tests/run.sh --no-browser` sets it).
BYOK_E2E_STEPS=setKey,chat,... runs a subset while developing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.fake_openai import CHAT_ANSWER, REPLACEMENT, FakeOpenAI
from tests.e2e_vscode.harness import (
    BAD_PROVIDER,
    KEY,
    PROVIDER,
    CodeServer,
    assert_no_key_in_logs,
    assert_screenshots,
    base_settings,
    byok_server,
    drive,
    server_env,
)

pytestmark = pytest.mark.browser

ALL_STEPS = (
    "setKey",
    "verify",
    "verifyBad",
    "inlineEdit",
    "chat",
    "stop",
    "apply",
    "markdown",
    "model",
    "tab",
    "usage",
    "status",
)
BAD_KEY = "wrong-key-0000000000"
SOURCE = """def add(a, b):
    return a + b


def unrelated():
    return "keep me"
"""
EXPECTED = (
    REPLACEMENT
    + """

def unrelated():
    return "keep me"
"""
)


def test_vscode_extension_end_to_end(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = byok_server()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    # a file beside it, never opened: Tab learns from it (nearby files) and is sure enough to show the line
    (workspace / "calls.py").write_text(
        "from calc import add_numbers\n\nresult = add_numbers(1, 2)\nresult = add_numbers(1, 2)\n"
    )
    keyring_file = tmp_path / "keyring.json"
    env = server_env(tmp_path)
    # BYOK_E2E_STEPS=setKey,verify,... runs a subset while developing; the default is the whole scenario
    steps = set(os.environ.get("BYOK_E2E_STEPS", ",".join(ALL_STEPS)).split(","))
    t0 = time.monotonic()
    with (
        FakeOpenAI(key=KEY) as fake,
        CodeServer(
            env_ready["cache"],
            env_ready["vsix"],
            tmp_path,
            # this scenario's Ctrl+K applies at once; test_vscode_inline.py drives the preview (the default)
            {**base_settings([str(server)], fake.base_url), "byok.inlineEdit.preview": False},
            env,
        ) as code,
    ):
        result = drive(
            "drive.mjs",
            env_ready["cache"],
            {
                "url": code.url,
                "workspace": str(workspace),
                "file": str(source),
                "screenshots": str(screenshots),
                "provider": PROVIDER,
                "key": KEY,
                "badProvider": BAD_PROVIDER,
                "badKey": BAD_KEY,
                "selectLines": 2,
                "useKeybinding": True,
                "instruction": "rename to add_numbers and add type hints and a docstring",
                "expectInEditor": "def add_numbers(a: int, b: int) -> int:",
                "chatPrompt": "Say hello",
                "expectChat": CHAT_ANSWER,
                "stopPrompt": "Please be slow",
                "applyPrompt": "Show me the change as a code block",
                "markdownPrompt": "Answer in markdown",
                "expectApplied": 'return "kept and applied"',
                "tabTyped": "result = add_num",
                "tabExpect": "result = add_numbers",
                "steps": sorted(steps),
            },
            tmp_path,
        )
        fake_saw_close = fake.aborted.wait(10)
        posts = [r for r in fake.requests if r["method"] == "POST"]
    elapsed = time.monotonic() - t0
    with capsys.disabled():
        print(f"\nVS Code e2e: drove the scenario in {elapsed:.1f} s (setup.sh {env_ready['setup_s']:.1f} s)")

    if "setKey" in steps:
        assert "key stored" in result["setKey"]
        assert KEY in keyring_file.read_text()  # the test keyring backend got it from the server
    if "verify" in steps:
        assert result["verify"].startswith(f"byok: {PROVIDER} key OK — 2 models ("), result["verify"]
        assert KEY not in result["verify"]
    if "verifyBad" in steps:
        # the server's cause and fix for a 401, not a bare "failed"
        assert result["verifyBad"].startswith(f"byok: {BAD_PROVIDER} key failed: "), result["verifyBad"]
        assert "Fix: " in result["verifyBad"], result["verifyBad"]
        assert BAD_KEY not in result["verifyBad"]
        assert result["deleteKey"] == f"byok: {BAD_PROVIDER} key deleted"
    if "inlineEdit" in steps and not result.get("inlineEditMissing"):
        assert result["fileAfterInlineEdit"] == EXPECTED
    if "chat" in steps:
        assert result["chatAnswer"] == CHAT_ANSWER
        assert result["chatPartials"] >= 1, "the chat answer did not arrive incrementally"
        assert "fake-model" in result["chatStatus"]
    if "stop" in steps:
        assert result["stoppedAnswer"].startswith("tick 0 ")
        assert fake_saw_close, "Stop did not close the upstream stream"
    if "apply" in steps:
        assert result["fileAfterApply"] == EXPECTED.replace('"keep me"', '"kept and applied"')
    if "markdown" in steps:
        md = result["markdown"]
        assert md["heading"] == "Plan"
        assert md["items"] == ["read the file", "change it"]
        assert md["code"].strip() == 'print("<b>not html</b>")'
        assert md["actions"] == ["Apply", "Insert", "Copy"]
        assert md["images"] == 0 and md["rawBold"] == 0, "raw HTML from the model reached the view"
    if "model" in steps:
        assert result["modelGroups"] == [PROVIDER]
        assert "fake-other" in result["modelFooter"]
        assert posts[-1]["json"]["model"] == "fake-other", posts[-1]["json"]["model"]
    if "tab" in steps:
        assert result["tabGhost"], "no ghost text"
        assert "\nresult = add_numbers" in result["fileAfterTab"], result["fileAfterTab"]
    last = [result[k] for k in ("fileAfterInlineEdit", "fileAfterApply", "fileAfterTab") if k in result]
    if last:
        assert source.read_text() == last[-1]  # what the editor saved is on disk
    if "usage" in steps:
        assert '"month"' in result["usage"] and '"rows"' in result["usage"], result["usage"]
    if "status" in steps:
        assert result["statusText"].endswith("fake-model") or "fake-model ·" in result["statusText"]
        assert "Chat: fake-model" in result["statusTooltip"]
        assert "Tab:" in result["statusTooltip"] and "Apply:" in result["statusTooltip"]
        assert result["statusTooltip"].count("built-in model") == 2, result["statusTooltip"]
    assert_no_key_in_logs(tmp_path)
    # the key reached the fake only as a Bearer header, never in a request body
    assert all(KEY not in json.dumps(r.get("json", {})) for r in posts)
    if "inlineEdit" in steps and result.get("inlineEditMissing"):
        pytest.xfail(f"the server does not implement byok.inlineEdit yet: {result['inlineEditMissing']}")
    assert_screenshots(result)


def test_vscode_server_cannot_start(env_ready: dict[str, Any], tmp_path: Path, screenshots: Path) -> None:
    """A missing server command gives a clear error notification (with Show Logs), not a silent failure."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    missing = str(tmp_path / "no-such-byok-server")
    with CodeServer(
        env_ready["cache"],
        env_ready["vsix"],
        tmp_path,
        base_settings([missing], "http://127.0.0.1:9/v1"),
        {},
    ) as code:
        result = drive(
            "drive.mjs",
            env_ready["cache"],
            {
                "url": code.url,
                "workspace": str(workspace),
                "screenshots": str(screenshots),
                "expectStartFailure": True,
            },
            tmp_path,
        )
    assert "could not start" in result["startFailure"]
    assert missing in result["startFailure"]
