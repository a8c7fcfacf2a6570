"""What every VS Code end-to-end test shares: code-server with the .vsix installed, the settings that point a
provider id at the loopback fake (fake_openai.py), the server's environment, and running a drive script.

A test file builds its workspace, starts `FakeOpenAI` and `CodeServer`, and calls `drive("drive_x.mjs",
{...})`; the script (built on drive_lib.mjs) prints the result the test checks. The fixtures (`env_ready`,
`tmp_path`, `screenshots`) are in conftest.py.
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENT = REPO / "vscode-client"

KEY = "fake-e2e-key-7f3a9c21d4"
PROVIDER = "local"
BAD_PROVIDER = "badkey"


def run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    """`cmd`'s stdout; an AssertionError with its output tails when it fails."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def byok_server() -> Path:
    """The byok-server script next to the Python running pytest, else on PATH."""
    for candidate in (Path(sys.executable).parent / "byok-server", shutil.which("byok-server")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("byok-server not found next to the Python running pytest nor on PATH: pip install -e .")


def server_env(root: Path) -> dict[str, str]:
    """The suite's file-backed test keyring (shared by the server under code-server and the test) and the
    repo on PYTHONPATH."""
    return {
        "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.FileKeyring",
        "BYOK_TEST_KEYRING_FILE": str(root / "keyring.json"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


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
        run([*self.base, "--install-extension", str(vsix)], root, timeout=120, env=self.env)
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


def drive(
    script: str, cache: Path, config: dict[str, Any], root: Path, timeout: float = 300
) -> dict[str, Any]:
    """Run the drive script `script` (in this folder) with `config`; its `RESULT {...}` line as a dict."""
    cfg_file = root / "drive.json"
    cfg_file.write_text(
        json.dumps(
            {"cacheDir": str(cache), "chromium": shutil.which("chromium") or "/usr/bin/chromium", **config}
        )
    )
    proc = subprocess.run(
        ["node", str(HERE / script), str(cfg_file)], capture_output=True, text=True, timeout=timeout
    )
    result_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), "RESULT {}")
    result: dict[str, Any] = json.loads(result_line[len("RESULT ") :])
    if proc.returncode != 0:
        failed = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("RESULT "))
        raise AssertionError(f"{failed}\nscreenshots: {config['screenshots']}\n{proc.stderr[-3000:]}")
    return result


def base_settings(server_command: list[str], base_url: str) -> dict[str, Any]:
    """User settings: a quiet workbench, the byok server command, and `PROVIDER` / `BAD_PROVIDER` pointed at
    the fake with its two models."""
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
    }


def assert_no_key_in_logs(root: Path, key: str = KEY) -> None:
    """The key is in no log under `root` (the byok output channel, the extension host's, code-server's)."""
    logs = [p for p in root.rglob("*.log") if p.is_file()]
    assert any(p.name.endswith("byok.log") for p in logs), [str(p) for p in logs]
    leaked = [str(p) for p in logs if key in p.read_text(errors="replace")]
    assert not leaked, f"the key appears in {leaked}"


def assert_screenshots(result: dict[str, Any]) -> None:
    """Every step left a real screenshot (not a blank page)."""
    for step in result["steps"]:
        assert Path(step["screenshot"]).stat().st_size > 10_000, step
