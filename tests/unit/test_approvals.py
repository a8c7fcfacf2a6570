"""The approvals store: remembered "Always allow" answers, per scope, in files of the user data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.approvals import GLOBAL_SCOPE, Approvals, default_directory, workspace_scope

REPO = Path(__file__).resolve().parents[2]


def test_a_remembered_key_is_approved_in_its_scope_only(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path / "approvals")
    here, there = workspace_scope(tmp_path / "a"), workspace_scope(tmp_path / "b")
    assert not approvals.approved(here, "command:pytest")
    approvals.remember(here, "command:pytest")
    approvals.remember(here, "command:pytest")
    assert approvals.approved(here, "command:pytest")
    assert not approvals.approved(there, "command:pytest")
    assert not approvals.approved(GLOBAL_SCOPE, "command:pytest")
    assert not approvals.approved(here, "command:pytest-evil")
    assert approvals.remembered(here) == ["command:pytest"]
    # Another instance (another byok process) reads the same files.
    assert Approvals(tmp_path / "approvals").approved(here, "command:pytest")


def test_files_are_named_by_scope_never_by_path(tmp_path: Path) -> None:
    workspace = tmp_path / "my project"
    approvals = Approvals(tmp_path / "approvals")
    approvals.remember(workspace_scope(workspace), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "ab" * 32)
    names = sorted(p.name for p in (tmp_path / "approvals").iterdir())
    assert names == [".lock", "global.json", f"{workspace_scope(workspace)}.json"]
    assert "project" not in "".join(names)
    assert workspace_scope(workspace) == workspace_scope(tmp_path / "x" / ".." / "my project")
    stored = json.loads((tmp_path / "approvals" / "global.json").read_text())
    assert stored["version"] == 1 and list(stored["approved"]) == ["mcp-start:" + "ab" * 32]
    assert approvals.scopes() == sorted([GLOBAL_SCOPE, workspace_scope(workspace)])


def test_forget_one_scope_every_scope_or_a_workspace_with_the_global_ones(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path / "approvals")
    a, b = tmp_path / "a", tmp_path / "b"
    approvals.remember(workspace_scope(a), "command:pytest")
    approvals.remember(workspace_scope(a), "mcp-tool:everything/echo")
    approvals.remember(workspace_scope(b), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "0" * 64)
    assert approvals.forget_workspace(a) == 3
    assert approvals.scopes() == [workspace_scope(b)]
    assert approvals.forget(workspace_scope(b)) == 1
    assert approvals.forget(workspace_scope(b)) == 0
    approvals.remember(workspace_scope(a), "command:pytest")
    approvals.remember(workspace_scope(b), "command:make")
    assert approvals.forget(None) == 2
    assert approvals.scopes() == []


def test_an_unreadable_file_approves_nothing_and_the_next_write_replaces_it(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path / "approvals")
    scope = workspace_scope(tmp_path)
    approvals.remember(scope, "command:pytest")
    path = tmp_path / "approvals" / f"{scope}.json"
    for damaged in ('{"approved": {"command:pytest": {', "[1, 2]", '{"approved": ["command:pytest"]}'):
        path.write_text(damaged)
        assert not approvals.approved(scope, "command:pytest")
    approvals.remember(scope, "command:make")
    assert approvals.remembered(scope) == ["command:make"]
    assert not list((tmp_path / "approvals").glob("*.tmp"))


def test_scopes_and_keys_are_checked(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path)
    for scope in ("../etc", "ws-1234", "Global", str(tmp_path)):
        with pytest.raises(ValueError):
            approvals.approved(scope, "command:x")
    for key in ("", "no-kind", "command:" + "x" * 1000):
        with pytest.raises(ValueError):
            approvals.remember(GLOBAL_SCOPE, key)


def test_an_unwritable_directory_is_approvals_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    approvals = Approvals(blocker / "approvals")
    assert not approvals.approved(GLOBAL_SCOPE, "command:x")
    with pytest.raises(ByokError) as caught:
        approvals.remember(GLOBAL_SCOPE, "command:x")
    assert caught.value.code == ErrorCode.APPROVALS_UNAVAILABLE
    assert caught.value.fix


def test_the_default_directory_is_in_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_directory() == tmp_path / "data" / "byok" / "approvals"


_WRITER = """
import sys
from pathlib import Path
from byok.core.approvals import GLOBAL_SCOPE, Approvals
approvals = Approvals(Path(sys.argv[1]))
for index in range(int(sys.argv[3])):
    approvals.remember(GLOBAL_SCOPE, f"command:{sys.argv[2]}-{index}")
"""


def test_processes_writing_at_once_lose_no_approval(tmp_path: Path) -> None:
    """Each write is a read-modify-replace under the shared lock: no process overwrites another's key."""
    directory, writers, each = tmp_path / "approvals", 4, 25
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)])}
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), f"w{n}", str(each)], env=env)
        for n in range(writers)
    ]
    assert [p.wait(timeout=120) for p in processes] == [0] * writers
    assert len(Approvals(directory).remembered(GLOBAL_SCOPE)) == writers * each
