"""Emacs (Debian's emacs-nox 28 + elpa-eglot 1.9) runs byok.el through eglot against byok-server, in batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.editors import EDITORS, assert_scenario, route_provider, run_editor, script_config
from tests.fakes import FakeServer

pytestmark = pytest.mark.editors

EMACS = shutil.which("emacs")


@pytest.mark.skipif(
    EMACS is None,
    reason="emacs is not installed (Debian: apt-get install --no-install-recommends emacs-nox elpa-eglot)",
)
def test_emacs_eglot(fake: FakeServer, server_env: dict[str, str], tmp_path: Path) -> None:
    assert EMACS
    route_provider(fake)
    env = {**server_env, "HOME": str(tmp_path)}  # keep ~/.emacs.d (eglot's events, auto-saves) in tmp
    config = script_config(fake, tmp_path, byokEl=str(EDITORS / "emacs" / "byok.el"))
    argv = [EMACS, "--batch", "-l", str(EDITORS / "emacs" / "e2e.el")]
    run = run_editor(argv, env, tmp_path, config)
    r = run.results
    assert r["serverStopped"] is True
    if r["inlineEditRegistered"]:
        assert r["modified"] is True  # applied to the buffer, not written to disk behind the editor's back
        assert (tmp_path / "greet.py").read_text(encoding="utf-8").startswith("def greet")
    assert_scenario(run, fake)
