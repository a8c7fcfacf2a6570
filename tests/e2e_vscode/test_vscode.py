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
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.fake_openai import CHAT_ANSWER, REPLACEMENT, FakeOpenAI

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENT = REPO / "vscode-client"

pytestmark = pytest.mark.browser

KEY = "fake-e2e-key-7f3a9c21d4"
PROVIDER = "local"
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
BAD_PROVIDER = "badkey"
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


def _skip_reason(config: pytest.Config) -> str | None:
    try:
        no_browser = bool(config.getoption("--no-browser"))
    except ValueError:
        no_browser = False
    if no_browser or os.environ.get("BYOK_NO_BROWSER") == "1":
        return "VS Code end-to-end test skipped: BYOK_NO_BROWSER=1 / --no-browser given (needs code-server + chromium)"
    return None


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _byok_server() -> Path:
    for candidate in (Path(sys.executable).parent / "byok-server", shutil.which("byok-server")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("byok-server not found next to the Python running pytest nor on PATH: pip install -e .")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CodeServer:
    """code-server with temp user-data/extension dirs, the .vsix installed, and the given user settings."""

    def __init__(
        self, cache: Path, vsix: Path, root: Path, settings: dict[str, Any], env: dict[str, str]
    ) -> None:
        self.bin = cache / "node_modules" / ".bin" / "code-server"
        self.root = root
        self.user_data = root / "user-data"
        self.extensions = root / "extensions"
        (self.user_data / "User").mkdir(parents=True)
        self.extensions.mkdir()
        (self.user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
        # code-server is a remote window: machine-scoped settings (byok.providers, byok.budget, ...) count only
        # from the remote machine's settings, which the server re-reads on any settings change
        contributed = json.loads((CLIENT / "package.json").read_text())["contributes"]["configuration"][
            "properties"
        ]
        machine = {k: v for k, v in settings.items() if contributed.get(k, {}).get("scope") == "machine"}
        (self.user_data / "Machine").mkdir()
        (self.user_data / "Machine" / "settings.json").write_text(json.dumps(machine, indent=2))
        self.env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CACHE_HOME": str(root / "xdg-cache"),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            **env,
        }
        self.env.pop("VSCODE_IPC_HOOK_CLI", None)
        self.base = [
            str(self.bin),
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
        ]
        _run([*self.base, "--install-extension", str(vsix)], root, timeout=120, env=self.env)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "code-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CodeServer:
        args = [
            "--auth",
            "none",
            "--bind-addr",
            f"127.0.0.1:{self.port}",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*self.base, *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return self
            except OSError:
                assert self.proc.poll() is None, f"code-server exited:\n{self.log.read_text()[-3000:]}"
                time.sleep(0.2)
        raise AssertionError(f"code-server did not answer in 60 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _drive(cache: Path, config: dict[str, Any], root: Path) -> dict[str, Any]:
    cfg_file = root / "drive.json"
    cfg_file.write_text(
        json.dumps(
            {"cacheDir": str(cache), "chromium": shutil.which("chromium") or "/usr/bin/chromium", **config}
        )
    )
    proc = subprocess.run(
        ["node", str(HERE / "drive.mjs"), str(cfg_file)], capture_output=True, text=True, timeout=300
    )
    result_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), "RESULT {}")
    result: dict[str, Any] = json.loads(result_line[len("RESULT ") :])
    if proc.returncode != 0:
        failed = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("RESULT "))
        raise AssertionError(f"{failed}\nscreenshots: {config['screenshots']}\n{proc.stderr[-3000:]}")
    return result


def _base_settings(server_command: list[str], base_url: str) -> dict[str, Any]:
    return {
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "files.autoSave": "off",
        "editor.formatOnSave": False,
        "files.insertFinalNewline": False,
        "files.trimTrailingWhitespace": False,
        # only the server's inline (ghost text) suggestion, no suggest widget competing for Tab
        "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
        "editor.suggestOnTriggerCharacters": False,
        "editor.inlineSuggest.enabled": True,
        "byok.server.command": server_command,
        "byok.providers": {
            PROVIDER: {"kind": "openai-compatible", "baseUrl": base_url},
            BAD_PROVIDER: {"kind": "openai-compatible", "baseUrl": base_url},
        },
        "byok.models": [
            {"id": "fake-model", "provider": PROVIDER},
            {"id": "fake-other", "provider": PROVIDER},
        ],
        "byok.features": {"chat": "fake-model", "inlineEdit": "fake-model"},
        # this scenario's Ctrl+K applies at once; test_vscode_inline.py drives the preview (the default)
        "byok.inlineEdit.preview": False,
    }


def test_vscode_extension_end_to_end(
    env_ready: dict[str, Any], tmp_path: Path, screenshots: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _byok_server()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    # a file beside it, never opened: Tab learns from it (nearby files) and is sure enough to show the line
    (workspace / "calls.py").write_text(
        "from calc import add_numbers\n\nresult = add_numbers(1, 2)\nresult = add_numbers(1, 2)\n"
    )
    keyring_file = tmp_path / "keyring.json"
    env = {  # the suite's file-backed test keyring, shared by the server (under code-server) and this test
        "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.FileKeyring",
        "BYOK_TEST_KEYRING_FILE": str(keyring_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    # BYOK_E2E_STEPS=setKey,verify,... runs a subset while developing; the default is the whole scenario
    steps = set(os.environ.get("BYOK_E2E_STEPS", ",".join(ALL_STEPS)).split(","))
    t0 = time.monotonic()
    with (
        FakeOpenAI(key=KEY) as fake,
        CodeServer(
            env_ready["cache"], env_ready["vsix"], tmp_path, _base_settings([str(server)], fake.base_url), env
        ) as code,
    ):
        result = _drive(
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
    # the key is in no log: the byok output channel, the extension host's and code-server's own logs
    logs = [p for p in tmp_path.rglob("*.log") if p.is_file()]
    assert any(p.name.endswith("byok.log") for p in logs), [str(p) for p in logs]
    leaked = [str(p) for p in logs if KEY in p.read_text(errors="replace")]
    assert not leaked, f"the key appears in {leaked}"
    # the key reached the fake only as a Bearer header, never in a request body
    assert all(KEY not in json.dumps(r.get("json", {})) for r in posts)
    if "inlineEdit" in steps and result.get("inlineEditMissing"):
        pytest.xfail(f"the server does not implement byok.inlineEdit yet: {result['inlineEditMissing']}")
    for step in result["steps"]:
        assert Path(step["screenshot"]).stat().st_size > 10_000


def test_vscode_server_cannot_start(env_ready: dict[str, Any], tmp_path: Path, screenshots: Path) -> None:
    """A missing server command gives a clear error notification (with Show Logs), not a silent failure."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    missing = str(tmp_path / "no-such-byok-server")
    with CodeServer(
        env_ready["cache"],
        env_ready["vsix"],
        tmp_path,
        _base_settings([missing], "http://127.0.0.1:9/v1"),
        {},
    ) as code:
        result = _drive(
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
