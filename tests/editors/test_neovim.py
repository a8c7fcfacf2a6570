"""Neovim's built-in LSP client (Debian's neovim, 0.7+) runs byok.lua against byok-server, headless."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.editors import EDITORS, assert_scenario, route_provider, run_editor, script_config
from tests.fakes import FakeServer

pytestmark = pytest.mark.editors

NVIM = shutil.which("nvim")


def nvim_version() -> tuple[int, ...]:
    assert NVIM
    first = subprocess.run([NVIM, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"NVIM v(\d+)\.(\d+)\.(\d+)", first)
    return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed (Debian: apt-get install neovim)")
def test_neovim_builtin_lsp_client(fake: FakeServer, server_env: dict[str, str], tmp_path: Path) -> None:
    assert NVIM
    assert nvim_version() >= (0, 7, 0), "byok.lua needs Neovim 0.7 or later"
    route_provider(fake)
    env = {
        **server_env,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # Neovim's lsp.log (0.7)
        "XDG_STATE_HOME": str(tmp_path / "state"),  # and where 0.8+ keeps it
        "HOME": str(tmp_path),
    }
    config = script_config(fake, tmp_path, byokLua=str(EDITORS / "neovim" / "byok.lua"))
    argv = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {EDITORS / 'neovim' / 'e2e.lua'}"]
    run = run_editor(argv, env, tmp_path, config)
    r = run.results
    assert r["offsetEncoding"] == "utf-16"
    assert r["serverStopped"] is True
    if r["inlineEditRegistered"]:
        assert r["modified"] is True  # applied to the buffer, not written to disk behind the editor's back
        assert (tmp_path / "greet.py").read_text(encoding="utf-8").startswith("def greet")
    assert_scenario(run, fake)
