"""One file jail for every feature: chat and composer `files`, the inline-edit and Apply `uri`.

Issue 11, part C1. Context files come from the workspace folders (symlinks followed, regular files with
one link) or from documents the editor has open; /proc, /sys, /dev and secret-looking files never; the
total is capped by `context.maxBytes`. Everything runs against the real server over stdio, with a loopback
fake provider that records what would have left the machine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from byok.base.names import Command
from tests.conftest import TEST_KEY_COMPAT
from tests.e2e.edits import open_document, settings_for
from tests.e2e.harness import Session, lsp_session
from tests.fakes import FakeServer, openai_models, openai_stream
from tests.hostile.helpers import (
    BYOK_ERROR,
    answer,
    assert_no_leak,
    every_provider_at,
    hostile_env,
    hostile_session,
)
from tests.hostile.test_trust_agent import agent_session, script, tool_results, workspace

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHAT_ROUTE = ("POST", "/v1/chat/completions")
ENV_MARKER = "ENVMARKER-FAKE-0d9f2c"
OUTSIDE_MARKER = "OUTSIDE-TEST-7a1b3e"
SECRET_MARKER = "SECRET-TEST-51c0aa"
GOOD_TEXT = "def good():\n    return 1\n"
HI = [{"role": "user", "content": "hi"}]

SECRET_NAMES = [
    ".ENV",
    ".Env.local",
    "ID_RSA",
    "prod.PEM",
    ".envrc",
    "id_dsa",
    ".npmrc",
    ".netrc",
    "_netrc",
    ".pypirc",
    ".pgpass",
    ".git-credentials",
    ".aws/credentials",
    ".AWS/config",
    "deploy/.ssh/config",
    ".gnupg/pubring.kbx",
    ".docker/config.json",
    ".kube/config",
    "release.keystore",
    "android.JKS",
    "vault.kdbx",
    "putty.ppk",
    "cert.P12",
    "infra/terraform.tfvars",
    "infra/terraform.tfstate",
    "application_default_credentials.json",
    "config/secrets.yml",
    ".htpasswd",
]


@dataclass
class Tree:
    """The module's server, the fake provider, and the files around its workspace folder."""

    session: Session
    fake: FakeServer
    ws: Path
    outside: Path
    home_credentials: Path

    @property
    def good(self) -> str:
        return (self.ws / "good.py").as_uri()

    def sent_since(self, count: int) -> str:
        return "\n".join(r.body.decode("utf-8", "replace") for r in self.fake.requests[count:])


@pytest.fixture(scope="module")
def trust_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.route(*CHAT_ROUTE, openai_stream(["ok"]))
        fake.route("GET", "/v1/models", openai_models(["fuzz-upstream"]))
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tree(trust_fake: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Tree]:
    base = tmp_path_factory.mktemp("trust_files")
    ws = base / "ws"
    ws.mkdir()
    (ws / "good.py").write_text(GOOD_TEXT)
    outside = base / "outside" / "notes.txt"
    outside.parent.mkdir()
    outside.write_text(f"{OUTSIDE_MARKER}\n")
    home_credentials = base / "home" / ".aws" / "credentials"
    home_credentials.parent.mkdir(parents=True)
    home_credentials.write_text(f"[default]\naws_secret_access_key = {SECRET_MARKER}\n")
    for name in SECRET_NAMES:
        (ws / name).parent.mkdir(parents=True, exist_ok=True)
        (ws / name).write_text(f"TOKEN={SECRET_MARKER}\n")
    (ws / "escape.txt").symlink_to(outside)
    (ws / "environ.txt").symlink_to("/proc/self/environ")
    (ws / "linked.py").hardlink_to(outside)
    env = hostile_env(base)
    env["BYOK_TRUST_MARKER"] = ENV_MARKER
    async with hostile_session(every_provider_at(trust_fake), env, root=ws) as (session, _):
        stored = await answer(session, Command.SET_KEY.value, [{"provider": "fuzz", "key": TEST_KEY_COMPAT}])
        assert isinstance(stored, dict), stored
        yield Tree(session, trust_fake, ws, outside, home_credentials)
        assert_no_leak(session.everything())
        for marker in (ENV_MARKER, OUTSIDE_MARKER, SECRET_MARKER):
            assert marker not in session.everything()


def refusal(outcome: Any, field: str, code: str = "bad_request") -> dict[str, Any]:
    """The byok error `outcome` must be, naming `field` in its message."""
    assert isinstance(outcome, JsonRpcException), f"expected a refusal, got a result: {str(outcome)[:300]}"
    assert outcome.code == BYOK_ERROR, (outcome.code, outcome.message)
    data: dict[str, Any] = outcome.data
    assert data["code"] == code, data
    assert field in data["message"], data
    return data


async def expect_nothing_sent(
    tree: Tree, command: Command, params: dict[str, Any], field: str
) -> dict[str, Any]:
    before = len(tree.fake.requests)
    data = refusal(await answer(tree.session, command.value, [params]), field)
    sent = tree.sent_since(before)
    assert sent == "", f"{command.value} reached the provider: {sent[:300]}"
    return data


# -- chat `files` -------------------------------------------------------------------------------------------

OUTSIDE_URIS: dict[str, Callable[[Tree], str]] = {
    "proc-environ": lambda t: "file:///proc/self/environ",
    "etc-passwd": lambda t: "file:///etc/passwd",
    "home-aws-credentials": lambda t: t.home_credentials.as_uri(),
    "dotdot": lambda t: f"file://{t.ws}/../outside/notes.txt",
    "percent-dotdot": lambda t: f"file://{t.ws}/%2e%2e/outside/notes.txt",
    "percent-dotdot-upper": lambda t: (
        f"file://{t.ws}/%2E%2E/%2E%2E/{t.outside.parent.name}/../outside/notes.txt"
    ),
    "localhost": lambda t: f"file://localhost{t.outside}",
    "other-host": lambda t: f"file://fileserver{t.ws}/good.py",
    "absolute-outside": lambda t: t.outside.as_uri(),
    "plain-path-outside": lambda t: str(t.outside),
    "relative-path": lambda t: "outside/notes.txt",
    "symlink-out": lambda t: (t.ws / "escape.txt").as_uri(),
    "symlink-to-proc": lambda t: (t.ws / "environ.txt").as_uri(),
    "proc-root-alias-inside": lambda t: f"file:///proc/self/root{t.ws}/good.py",
    "proc-root-alias-outside": lambda t: f"file:///proc/self/root{t.outside}",
    "proc-cwd": lambda t: "file:///proc/self/cwd/README.md",
    "dev-stdin": lambda t: "file:///dev/stdin",
    "dev-zero": lambda t: "file:///dev/zero",
    "sys": lambda t: "file:///sys/kernel/hostname",
    "hard-link-out": lambda t: (t.ws / "linked.py").as_uri(),
    "directory": lambda t: t.ws.as_uri(),
}


@pytest.mark.parametrize("case", list(OUTSIDE_URIS))
async def test_chat_files_outside_the_workspace_are_refused(tree: Tree, case: str) -> None:
    uri = OUTSIDE_URIS[case](tree)
    params = {"messages": HI, "files": [tree.good, uri]}
    await expect_nothing_sent(tree, Command.CHAT, params, "files[1]")


@pytest.mark.parametrize("name", SECRET_NAMES)
async def test_chat_secret_files_are_refused_whatever_their_case(tree: Tree, name: str) -> None:
    params = {"messages": HI, "files": [(tree.ws / name).as_uri()]}
    data = await expect_nothing_sent(tree, Command.CHAT, params, "files[0]")
    assert "secret" in data["message"]


async def test_chat_sends_workspace_files_and_open_documents(tree: Tree) -> None:
    """The jail lets through what it should: a workspace file from disk, an open document from the editor."""
    unsaved = tree.outside.parent / "scratch.py"
    uri = open_document(tree.session, unsaved, "EDITOR-ONLY = 'unsaved text'\n")
    before = len(tree.fake.requests)
    result = await answer(tree.session, Command.CHAT.value, [{"messages": HI, "files": [tree.good, uri]}])
    assert isinstance(result, dict), result
    sent = tree.sent_since(before)
    assert "def good()" in sent and "EDITOR-ONLY" in sent


async def test_open_documents_are_still_refused_when_special_or_secret(tree: Tree) -> None:
    secret = open_document(tree.session, tree.ws / ".Env.production", f"TOKEN={SECRET_MARKER}\n")
    proc = "file:///proc/self/environ"
    tree.session.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=proc, language_id="text", version=1, text=ENV_MARKER)
        )
    )
    await expect_nothing_sent(tree, Command.CHAT, {"messages": HI, "files": [secret]}, "files[0]")
    await expect_nothing_sent(tree, Command.CHAT, {"messages": HI, "files": [tree.good, proc]}, "files[1]")


# -- context.maxBytes ---------------------------------------------------------------------------------------


async def test_total_context_bytes_are_capped_without_a_context_window(tree: Tree) -> None:
    """Six files of up to 2 MB (sparse: nothing is written) are over the default 8 MiB; no window is set."""
    folder = tree.ws / "big"
    folder.mkdir()
    sizes = {"a.py": 1_500_000, "b.py": 1_600_000, "huge.py": 2_000_000, "c.py": 1_700_000}
    sizes |= {"d.py": 1_800_000, "e.py": 1_900_000}
    for name, size in sizes.items():
        (folder / name).touch()
        os.truncate(folder / name, size)
    files = [(folder / name).as_uri() for name in sizes]
    before = len(tree.fake.requests)
    data = refusal(
        await answer(tree.session, Command.CHAT.value, [{"messages": HI, "files": files}]),
        "",
        code="context_too_large",
    )
    assert tree.sent_since(before) == ""
    named = data["cause"]
    assert named.index("huge.py") < named.index("e.py") < named.index("d.py"), named
    assert "maxBytes" in data["fix"]
    # The same cap for Composer.
    composer = {"instruction": "x", "files": files}
    data = refusal(
        await answer(tree.session, Command.COMPOSER.value, [composer]), "", code="context_too_large"
    )
    assert "huge.py" in data["cause"]


# -- composer `files` and edits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["proc-environ", "dotdot", "symlink-out", "hard-link-out", "home-aws-credentials"]
)
async def test_composer_files_outside_the_workspace_are_refused(tree: Tree, case: str) -> None:
    params = {"instruction": "x", "files": [tree.good, OUTSIDE_URIS[case](tree)]}
    await expect_nothing_sent(tree, Command.COMPOSER, params, "files[1]")


async def test_composer_does_not_edit_a_hard_linked_file(tree: Tree) -> None:
    (tree.ws / "twin.py").write_text("x = 1\n")
    os.link(tree.ws / "twin.py", tree.ws / "twin2.py")
    answer_text = "FILE: linked.py\n```python\nx = 2\n```\n\nFILE: twin.py\n```python\nx = 2\n```\n"
    tree.fake.route(*CHAT_ROUTE, openai_stream([answer_text]))
    try:
        result = await answer(tree.session, Command.COMPOSER.value, [{"instruction": "x", "apply": True}])
    finally:
        tree.fake.route(*CHAT_ROUTE, openai_stream(["ok"]))
    assert isinstance(result, dict), result
    assert result["edit"]["documentChanges"] == []
    reasons = {r["path"]: r["reason"] for r in result["refused"]}
    assert set(reasons) == {"linked.py", "twin.py"}
    assert all("hard link" in reason for reason in reasons.values()), reasons
    assert tree.outside.read_text() == f"{OUTSIDE_MARKER}\n"


# -- inline edit and Apply `uri` ----------------------------------------------------------------------------

RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}


@pytest.mark.parametrize(
    "case",
    ["proc-environ", "etc-passwd", "dotdot", "percent-dotdot", "symlink-out", "hard-link-out", "localhost"],
)
async def test_inline_edit_uri_outside_the_workspace_is_refused(tree: Tree, case: str) -> None:
    params = {"uri": OUTSIDE_URIS[case](tree), "range": RANGE, "instruction": "x"}
    await expect_nothing_sent(tree, Command.INLINE_EDIT, params, "uri")


@pytest.mark.parametrize("name", [".ENV", "ID_RSA", ".aws/credentials", ".npmrc"])
async def test_inline_edit_secret_uri_is_refused(tree: Tree, name: str) -> None:
    params = {"uri": (tree.ws / name).as_uri(), "range": RANGE, "instruction": "x"}
    await expect_nothing_sent(tree, Command.INLINE_EDIT, params, "uri")


async def test_inline_edit_of_an_open_hard_linked_file_is_refused(tree: Tree) -> None:
    """The editor would save the edit through the link, outside the workspace."""
    uri = open_document(tree.session, tree.ws / "linked.py", "x = 1\n")
    params = {"uri": uri, "range": RANGE, "instruction": "x"}
    data = await expect_nothing_sent(tree, Command.INLINE_EDIT, params, "uri")
    assert "hard link" in data["message"]


@pytest.mark.parametrize("case", ["proc-environ", "etc-passwd", "dotdot", "symlink-out", "hard-link-out"])
async def test_apply_uri_outside_the_workspace_is_refused(tree: Tree, case: str) -> None:
    outcome = await answer(
        tree.session, Command.APPLY.value, [{"uri": OUTSIDE_URIS[case](tree), "code": "x = 2\n"}]
    )
    data = refusal(outcome, "uri")
    for marker in (ENV_MARKER, OUTSIDE_MARKER):
        assert marker not in str(data)


async def test_apply_to_a_workspace_file_still_works(tree: Tree) -> None:
    result = await answer(
        tree.session, Command.APPLY.value, [{"uri": tree.good, "code": "def good():\n    return 2\n"}]
    )
    assert isinstance(result, dict) and result["hunks"] == 1, result


# -- the workspace folders, and no workspace at all ---------------------------------------------------------


@pytest.fixture
def chat_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.route(*CHAT_ROUTE, openai_stream(["ok"]))
        yield fake


async def test_every_workspace_folder_counts_and_nothing_else(chat_fake: FakeServer, tmp_path: Path) -> None:
    first, second, elsewhere = tmp_path / "one", tmp_path / "two", tmp_path / "elsewhere"
    for folder in (first, second, elsewhere):
        folder.mkdir()
        (folder / "m.py").write_text(f"# in {folder.name}\n")
    env = hostile_env(tmp_path)
    async with lsp_session(every_provider_at(chat_fake), env, root=first.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "fuzz", "key": TEST_KEY_COMPAT})
        s.client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=second.as_uri(), name="two")], removed=[]
                )
            )
        )
        files = [(first / "m.py").as_uri(), (second / "m.py").as_uri()]
        await s.command("byok.chat", {"messages": HI, "files": files})
        sent = chat_fake.requests[-1].body.decode()
        assert "# in one" in sent and "# in two" in sent
        refused = await answer(s, "byok.chat", [{"messages": HI, "files": [(elsewhere / "m.py").as_uri()]}])
        refusal(refused, "files[0]")
        assert len(chat_fake.requests) == 1


async def test_without_a_workspace_only_open_documents_are_sent(
    chat_fake: FakeServer, tmp_path: Path
) -> None:
    on_disk = tmp_path / "disk.py"
    on_disk.write_text("# from disk\n")
    env = hostile_env(tmp_path)
    async with lsp_session(every_provider_at(chat_fake), env) as s:
        await s.command("byok.setKey", {"provider": "fuzz", "key": TEST_KEY_COMPAT})
        uri = open_document(s, tmp_path / "open.py", "# from the editor\n")
        await s.command("byok.chat", {"messages": HI, "files": [uri]})
        assert "# from the editor" in chat_fake.requests[-1].body.decode()
        data = refusal(
            await answer(s, "byok.chat", [{"messages": HI, "files": [on_disk.as_uri()]}]), "files[0]"
        )
        assert "workspace" in data["message"]
        assert len(chat_fake.requests) == 1


# -- the agent's tools: credentials files of common (AI) tools ----------------------------------------------

AGENT_SECRET_NAMES = [
    ".claude/.credentials.json",  # Claude Code
    ".codex/auth.json",  # OpenAI Codex CLI
    ".local/share/python_keyring/keyring_pass.cfg",  # keyrings.alt plaintext keyring: byok's own keys
    ".bash_history",  # `export OPENAI_API_KEY=...`
    ".zsh_history",
    ".local/share/fish/fish_history",
    "serviceAccountKey.json",  # Firebase admin key
    ".terraform.d/credentials.tfrc.json",
    ".cache/huggingface/token",
    ".huggingface/token",
    ".yarnrc.yml",  # npmAuthToken
    ".env-local",
    ".env_production",
    ".config/gh/config.yml",
    ".config/github-copilot/apps.json",
    ".gemini/oauth_creds.json",
    ".m2/settings.xml",
    ".gradle/gradle.properties",
    ".config/composer/auth.json",
    ".config/rclone/rclone.conf",
    ".fly/config.yml",
    ".oci/config",
]


async def test_the_agent_neither_reads_nor_lists_credentials_files(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A home folder opened as a workspace: its credentials files are never read, listed or searched."""
    root = workspace(tmp_path)
    for name in AGENT_SECRET_NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"token={SECRET_MARKER}\n")
    reads = [(f"r{i}", "read_file", {"path": name}) for i, name in enumerate(AGENT_SECRET_NAMES)]
    script(
        fake,
        *reads,
        ("list", "list_files", {}),
        ("search", "search", {"query": SECRET_MARKER}),
    )
    async with agent_session(settings_for(fake), server_env, root, answer="Deny") as s:
        await s.command("byok.agent", {"task": "look", "model": "gpt-4o"})
    results = tool_results(fake)
    read = [
        name
        for (call, _, _), name in zip(reads, AGENT_SECRET_NAMES, strict=True)
        if SECRET_MARKER in results[call]
    ]
    assert not read, f"read and sent to the provider: {read}"
    listed = [name for name in AGENT_SECRET_NAMES if name in results["list"]]
    assert not listed, f"listed to the provider: {listed}"
    assert "src/app.py" in results["list"]
    assert SECRET_MARKER not in results["search"]
