"""Fixtures of the VS Code end-to-end tests: the built .vsix and code-server cache (once per session), a run
dir of each test's own and its screenshots folder."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_vscode.harness import CLIENT, HERE, REPO, run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    """Mark a failed test so its run dir (code-server logs, settings) is kept for a look."""
    outcome = yield
    if outcome.get_result().failed:
        item._failed = True  # type: ignore[attr-defined]


def _skip_reason(config: pytest.Config) -> str | None:
    try:
        no_browser = bool(config.getoption("--no-browser"))
    except ValueError:
        no_browser = False
    if no_browser or os.environ.get("BYOK_NO_BROWSER") == "1":
        return "VS Code end-to-end test skipped: BYOK_NO_BROWSER=1 / --no-browser given (needs code-server + chromium)"
    return None


@pytest.fixture(scope="session")
def env_ready(request: pytest.FixtureRequest) -> dict[str, Any]:
    """setup.sh's cache dir (code-server, playwright-core) and the freshly packaged .vsix."""
    reason = _skip_reason(request.config)
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    cache = run(["bash", str(HERE / "setup.sh")], REPO, timeout=900).strip().splitlines()[-1]
    t_setup = time.monotonic() - t0
    if not (CLIENT / "node_modules" / ".bin" / "vsce").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"], CLIENT, timeout=600)
    run(["npm", "run", "package"], CLIENT, timeout=300)
    return {"cache": Path(cache), "vsix": CLIENT / "byok.vsix", "setup_s": t_setup}


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A run dir of our own (pytest's rotating basetemp may be pruned by a parallel pytest run); on success
    only the screenshots are kept."""
    root = Path(tempfile.mkdtemp(prefix=f"byok-vscode-e2e-{request.node.name[:30]}-"))
    yield root
    for child in root.iterdir():
        if child.name != "screenshots" and not getattr(request.node, "_failed", False):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()


@pytest.fixture
def screenshots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    path = tmp_path / "screenshots"
    path.mkdir()
    yield path
    with capsys.disabled():  # shown even without -s
        print(f"\nVS Code e2e screenshots: {path}")
