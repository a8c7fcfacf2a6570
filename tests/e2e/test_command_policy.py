"""End to end over stdio: remembered approvals (`byok.forgetApprovals`, `byok approvals`) and the agent's command policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from byok.core.approvals import GLOBAL_SCOPE, Approvals, workspace_scope
from tests.e2e.harness import lsp_session
from tests.e2e.test_cli import byok


def store(env: dict[str, str]) -> Approvals:
    """The approvals store of the server (and CLI) started with `env`."""
    return Approvals(Path(env["XDG_DATA_HOME"]) / "byok" / "approvals")


async def test_forget_approvals_clears_the_workspace_and_global_ones(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    approvals = store(server_env)
    approvals.remember(workspace_scope(here), "command:pytest")
    approvals.remember(workspace_scope(here), "mcp-tool:everything/echo")
    approvals.remember(workspace_scope(elsewhere), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "ab" * 32)
    async with lsp_session({}, server_env, root=here.as_uri()) as s:
        with pytest.raises(JsonRpcException) as bad:
            await s.command("byok.forgetApprovals", {"all": "every one"})
        assert bad.value.code == -32602 and "all" in bad.value.message
        assert await s.command("byok.forgetApprovals", {}) == {"forgotten": 3}
        assert approvals.scopes() == [workspace_scope(elsewhere)]
        assert await s.command("byok.forgetApprovals", {}) == {"forgotten": 0}
        assert await s.command("byok.forgetApprovals", {"all": True}) == {"forgotten": 1}
        assert approvals.scopes() == []


def test_cli_lists_and_forgets_approvals(server_env: dict[str, str], tmp_path: Path) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    approvals = store(server_env)
    approvals.remember(workspace_scope(here), "command:pytest")
    approvals.remember(workspace_scope(elsewhere), "command:make")
    approvals.remember(GLOBAL_SCOPE, "mcp-start:" + "cd" * 32)
    listed = byok(server_env, "approvals")
    assert listed.returncode == 0, listed.stderr
    assert "command:pytest" in listed.stdout and "command:make" in listed.stdout
    only_here = json.loads(byok(server_env, "--json", "approvals", "--workspace", str(here)).stdout)
    assert only_here["scopes"] == {
        GLOBAL_SCOPE: ["mcp-start:" + "cd" * 32],
        workspace_scope(here): ["command:pytest"],
    }
    forgot = byok(server_env, "approvals", "--forget", "--workspace", str(here))
    assert forgot.returncode == 0 and "Forgot 2 approval(s)" in forgot.stdout
    assert approvals.scopes() == [workspace_scope(elsewhere)]
    everything = byok(server_env, "approvals", "--forget")
    assert "Forgot 1 approval(s)" in everything.stdout and "No approvals are remembered" in everything.stdout
    assert approvals.scopes() == []
