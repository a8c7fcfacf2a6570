"""The agent's file listing runs `git ls-files` as a child process: when the listing is cancelled (the user
stopped the agent), git is killed and reaped, never left running."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from byok.workspace.ignore import git_files


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_cancelled_listing_kills_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    started = tmp_path / "git.pid"
    slow_git = tools / "git"
    slow_git.write_text(f"#!/bin/sh\necho $$ > {started}\nexec sleep 30\n")
    slow_git.chmod(slow_git.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "project"
    root.mkdir()

    listing = asyncio.create_task(git_files(root, root))
    for _ in range(500):
        if started.exists() and started.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(started.read_text())
    listing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listing

    assert not _alive(pid), "git outlived the cancelled listing"
