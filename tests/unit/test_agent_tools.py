"""The agent's workspace tools: the path jail, in-memory changes, WorkspaceEdit building, listing, commands."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from byok.features.agent import MAX_RUN_TOOL_CHARS, MAX_TOOL_CALLS_PER_STEP, _run_call
from byok.features.agent_tools import Tools, describe_calls
from byok.providers.base import ToolCall, parse_tool_arguments
from byok.workspace.changes import Changes
from byok.workspace.edits import document_changes, text_edits
from byok.workspace.errors import PathRefused
from byok.workspace.files import OpenDocument
from byok.workspace.ignore import walk_files
from byok.workspace.jail import Workspace
from byok.workspace.shell import _BoundedOutput, command_env, run_command


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("a = 1\n")
    (ws / "src" / "pkg" / "mod.py").write_text("b = 2\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_text("outside\n")
    return ws


@pytest.fixture
def git_root(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def tools(root: Path, **options: Any) -> Tools:
    settings = {"choose": None, "allow_commands": False, "command_timeout_s": 5.0, **options}
    return Tools(Changes(Workspace(root)), **settings)


async def call(t: Tools, name: str, **arguments: Any) -> tuple[str, bool]:
    result = await t.call(ToolCall("id", name, arguments))
    return result.content, result.is_error


# -- the jail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../outside/x.txt", "src/../../outside/x.txt", "/etc/passwd", "", "   ", "file:///etc/passwd", "a\x00b"],
)
def test_paths_outside_the_workspace_are_refused(root: Path, path: str) -> None:
    with pytest.raises(PathRefused):
        Workspace(root).resolve(path)


def test_symlinks_leaving_the_workspace_are_refused(root: Path, tmp_path: Path) -> None:
    (root / "file_link").symlink_to(tmp_path / "outside" / "x.txt")
    (root / "dir_link").symlink_to(tmp_path / "outside")
    (root / "loop").symlink_to(root / "loop")
    (root / "inner_link").symlink_to(root / "src" / "app.py")
    workspace = Workspace(root)
    for path in ("file_link", "dir_link/x.txt", "dir_link"):
        with pytest.raises(PathRefused, match="symlink"):
            workspace.resolve(path)
    with pytest.raises(PathRefused):
        workspace.resolve("loop")
    assert workspace.resolve("inner_link") == root / "inner_link"


@pytest.mark.parametrize(
    "path", [".env", ".env.local", "config/.env", "certs/server.pem", "id_rsa", ".git/config"]
)
def test_secret_files_are_refused(root: Path, path: str) -> None:
    with pytest.raises(PathRefused, match="secrets"):
        Workspace(root).resolve(path)


def test_symlink_to_a_secret_inside_is_refused(root: Path) -> None:
    (root / ".env").write_text("TOKEN=x\n")
    (root / "innocent.txt").symlink_to(root / ".env")
    with pytest.raises(PathRefused, match="secrets"):
        Workspace(root).resolve("innocent.txt")


def test_paths_inside_resolve(root: Path) -> None:
    workspace = Workspace(root)
    assert workspace.resolve("src/app.py") == root / "src" / "app.py"
    assert workspace.resolve("./src/../src/app.py") == root / "src" / "app.py"
    assert workspace.resolve(str(root / "src")) == root / "src"
    assert workspace.resolve((root / "src" / "app.py").as_uri()) == root / "src" / "app.py"
    assert workspace.relative(workspace.resolve(".")) == "."


# -- changes and WorkspaceEdits -------------------------------------------------------------------------


def test_text_edits_use_utf16_positions_and_keep_line_endings() -> None:
    before = "x = '😀'\r\ny = 2\r\nz = 3"
    after = "x = '😀'\r\ny = 20\r\nz = 3\r\nw = 4"
    assert text_edits(before, after) == [
        {
            "range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 5}},
            "newText": "y = 20\r\nz = 3\r\nw = 4",
        }
    ]
    assert text_edits("a\n", "a\n") == []
    assert text_edits("", "new\n") == [
        {
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "newText": "new\n",
        }
    ]
    last = text_edits("a\nb😀", "a\nc")
    assert last == [
        {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 3}}, "newText": "c"}
    ]


def test_document_changes_create_modify_delete() -> None:
    assert document_changes("file:///a", None, "x\n", 5) == [
        {"kind": "create", "uri": "file:///a", "options": {"overwrite": False, "ignoreIfExists": False}},
        {
            "textDocument": {"uri": "file:///a", "version": None},
            "edits": [
                {
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                    "newText": "x\n",
                }
            ],
        },
    ]
    assert document_changes("file:///a", "x\n", None, 5) == [
        {"kind": "delete", "uri": "file:///a", "options": {"ignoreIfNotExists": True}}
    ]
    modified = document_changes("file:///a", "x\n", "y\n", 5)
    assert modified[0]["textDocument"] == {"uri": "file:///a", "version": 5}
    assert document_changes("file:///a", None, None, None) == []


def test_changes_read_their_own_writes_and_prefer_open_documents(root: Path) -> None:
    app = root / "src" / "app.py"
    documents = {app.as_uri(): OpenDocument("a = 'unsaved'\n", 9, "python")}
    changes = Changes(Workspace(root, documents.get))
    assert changes.read(app) == "a = 'unsaved'\n"
    changes.write(app, "a = 2\n")
    changes.write(root / "new.py", "n = 1\n")
    assert changes.read(app) == "a = 2\n" and changes.peek(root / "new.py") == "n = 1\n"
    assert app.read_text() == "a = 1\n", "nothing is written to disk"
    edit = changes.edit()
    assert [c.get("kind") or c["textDocument"]["version"] for c in edit["documentChanges"]] == [
        "create",
        None,
        9,
    ]
    changes.mark_applied()
    assert not changes.pending() and changes.edit() == {"documentChanges": []}
    changes.write(app, "a = 3\n")
    assert changes.edit()["documentChanges"][0]["textDocument"]["version"] is None, (
        "version unknown after an apply"
    )
    assert changes.edit(since_start=True)["documentChanges"][-1]["textDocument"]["version"] == 9
    assert [(f.path, f.action) for f in changes.summary()] == [
        ("new.py", "create"),
        ("src/app.py", "modify"),
    ]


def test_binary_and_non_utf8_files_are_errors(root: Path) -> None:
    (root / "bin.dat").write_bytes(b"\x00\x01\x02")
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    changes = Changes(Workspace(root))
    with pytest.raises(Exception, match="binary"):
        changes.read(root / "bin.dat")
    with pytest.raises(Exception, match="UTF-8"):
        changes.read(root / "latin.txt")


# -- the tools ------------------------------------------------------------------------------------------------


async def test_edit_and_create_go_through_memory(root: Path) -> None:
    t = tools(root)
    content, error = await call(t, "edit_file", path="src/app.py", code="a = 1\nb = 2\n")
    assert not error and content.startswith("Edited src/app.py")
    assert (await call(t, "read_file", path="src/app.py"))[0] == "a = 1\nb = 2\n"
    assert (await call(t, "create_file", path="src/app.py", content="x"))[1] is True
    assert (await call(t, "edit_file", path="src/missing.py", code="x"))[1] is True
    assert (await call(t, "create_file", path="src/pkg", content="x"))[1] is True
    content, error = await call(t, "create_file", path="src/new/deep.py", content="d = 4\n")
    assert not error
    assert "src/new/deep.py" in (await call(t, "list_files"))[0]
    assert (root / "src" / "app.py").read_text() == "a = 1\n"


async def test_read_file_line_range_and_errors(root: Path) -> None:
    (root / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    t = tools(root)
    assert (await call(t, "read_file", path="long.txt", start_line=3, end_line=4))[0] == "line 3\nline 4\n"
    assert (await call(t, "read_file", path="nope.txt"))[1] is True
    assert (await call(t, "read_file", path=3))[1] is True
    assert (await call(t, "read_file"))[1] is True
    assert (await call(t, "nonexistent_tool"))[0] == "Error: there is no tool named 'nonexistent_tool'."


async def test_malformed_arguments_are_reported_back() -> None:
    t = tools(Path("/nonexistent"))
    result = await t.call(ToolCall("id", "read_file", parse_tool_arguments(raw := '{"path": "a.py"'), raw))
    assert result.is_error and "not usable" in result.content and "JSON" in result.content


async def test_search_text_regex_and_ignored_files(root: Path) -> None:
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("needle\n")
    (root / ".env").write_text("needle\n")
    (root / "src" / "app.py").write_text("x = 'Needle'\ny = needle_2\n")
    t = tools(root)
    assert (await call(t, "search", query="needle"))[0] == "src/app.py:2: y = needle_2"
    found = (await call(t, "search", query=r"needle(_\d)?$", regex=True, ignore_case=True))[0]
    assert found.splitlines() == ["src/app.py:2: y = needle_2"]
    assert (await call(t, "search", query="Needle", path="src/app.py"))[0] == "src/app.py:1: x = 'Needle'"
    assert (await call(t, "search", query="(", regex=True))[1] is True
    assert (await call(t, "search", query="zzz"))[0] == "(no matches)"


async def test_gitignore_rules(tmp_path: Path) -> None:
    for name in ("a/b/x.log", "a/keep.log", "build/out.txt", "a/build", "top.txt", "a/top.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name in ("docs/x.tmp", "docs/a/b/x.tmp", "sub/a/x.gen", "other/x.gen"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / ".gitignore").write_text("# c\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/**/*.tmp\n")
    (tmp_path / "sub" / ".gitignore").write_text("*.gen\n")
    assert await walk_files(tmp_path, tmp_path) == [
        ".gitignore",
        "a/build",
        "a/keep.log",
        "a/top.txt",
        "other/x.gen",
        "sub/.gitignore",
    ]


async def test_walk_honours_nested_gitignores(root: Path) -> None:
    (root / ".gitignore").write_text("dist/\n")
    (root / "dist").mkdir()
    (root / "dist" / "bundle.js").write_text("")
    (root / "src" / ".gitignore").write_text("*.gen.py\n")
    (root / "src" / "x.gen.py").write_text("")
    (root / "src" / "pkg" / "y.gen.py").write_text("")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    assert await walk_files(root, root) == [".gitignore", "src/.gitignore", "src/app.py", "src/pkg/mod.py"]
    assert await walk_files(root, root / "src" / "pkg") == ["src/pkg/mod.py"]


async def test_a_backtracking_gitignore_pattern_is_stopped(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("byok.workspace.ignore.WALK_TIME_LIMIT_S", 0.5)
    (root / ".gitignore").write_text("*a*a*a*a*a*a*b\n")
    (root / ("a" * 100)).write_text("")
    content, error = await call(tools(root), "list_files")
    assert error and "was stopped" in content


@pytest.mark.parametrize("query", ["(" * 500 + ")" * 500, "a{99999999999}", "x" * 1001])
async def test_invalid_or_unsafe_search_patterns_are_tool_errors(root: Path, query: str) -> None:
    content, error = await call(tools(root), "search", query=query, regex=True)
    assert error and content.startswith("Error:")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_list_files_uses_git_in_a_repository(git_root: Path) -> None:
    root = git_root
    (root / ".gitignore").write_text("*.log\n")
    (root / "x.log").write_text("")
    (root / ".env").write_text("K=v\n")
    t = tools(root)
    listed = (await call(t, "list_files"))[0].splitlines()
    assert listed == [".gitignore", "src/app.py", "src/pkg/mod.py"]
    assert (await call(t, "list_files", path="src/pkg"))[0] == "src/pkg/mod.py"


# -- commands ---------------------------------------------------------------------------------------------------


async def test_run_command_permission(root: Path) -> None:
    asked: list[str] = []

    async def deny(question: str, actions: Sequence[str]) -> str | None:
        asked.append(question)
        return actions[-1]

    async def cannot_ask(question: str, actions: Sequence[str]) -> str | None:
        return None

    content, error = await call(
        tools(root, choose=deny, allow_commands=True), "run_command", command="touch x", cwd="src"
    )
    assert (
        error
        and "did not allow" in content
        and asked
        == [
            "byok agent wants to run a command in src:\ntouch x\nAsked because no allow pattern matches `touch x`."
        ]
    )
    assert (await call(tools(root, choose=cannot_ask), "run_command", command="touch x"))[1] is True
    assert (await call(tools(root), "run_command", command="touch x"))[1] is True, "headless without opt-in"
    assert not (root / "x").exists()
    content, error = await call(
        tools(root, choose=cannot_ask, allow_commands=True), "run_command", command="touch x"
    )
    assert not error and "exit code 0" in content and (root / "x").exists()
    assert (await call(tools(root, allow_commands=True), "run_command", command="ls", cwd="../"))[1] is True


async def test_run_command_bounds_output_and_times_out(root: Path) -> None:
    code, output = await run_command("yes 0123456789 | head -c 200000; echo; echo END", root, 10)
    assert code == 0 and output.endswith("END\n") and "bytes of output omitted" in output
    assert len(output) < 17_000
    code, output = await run_command("echo start; sleep 20", root, 0.5)
    assert code is None and output == "start\n"


def test_bounded_output_and_env() -> None:
    bounded = _BoundedOutput(8)
    for piece in (b"ab", b"cdefgh", b"ijkl"):
        bounded.add(piece)
    assert bounded.text() == "ab\n[... 4 bytes of output omitted ...]\nghijkl"
    assert all(
        name not in command_env() for name in ("OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN")
    )


def test_describe_calls() -> None:
    calls = [
        ToolCall("1", "edit_file", {"path": "a.py"}),
        ToolCall("2", "edit_file", {"path": "b.py"}),
        ToolCall("3", "read_file", {"path": "src/app.py"}),
        ToolCall("4", "run_command", {"command": "pytest -q"}),
    ]
    assert describe_calls(calls) == "editing 2 files; reading src/app.py; running `pytest -q`"


@pytest.mark.parametrize(("index", "kept_chars"), [(MAX_TOOL_CALLS_PER_STEP, 0), (0, MAX_RUN_TOOL_CHARS)])
async def test_calls_beyond_a_steps_or_a_runs_cap_are_not_run(
    root: Path, index: int, kept_chars: int
) -> None:
    t = tools(root)
    result = await _run_call(
        t, ToolCall("c", "create_file", {"path": "n.txt", "content": "x\n"}), index, kept_chars
    )
    assert result.is_error and result.content.startswith("Error: not run") and not t.changes.pending()
    assert not (
        await _run_call(t, ToolCall("c", "create_file", {"path": "n.txt", "content": "x\n"}), 0, 0)
    ).is_error
