"""End to end over stdio: agent and composer runs leave checkpoints; restoring one (and the restore) puts files back."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_OPENAI
from tests.e2e.edits import apply_text_edits, apply_workspace_edit, open_document, settings_for
from tests.e2e.harness import Session, byok_error, lsp_session
from tests.fakes import FakeServer, openai_stream

CHAT = ("POST", "/v1/chat/completions")
APP = 'def main():\n    print("héllo 😀")\n    return 0\n'
OLD = "OLD = True\n"
COMPOSER_ANSWER = """Moving the greeting.

FILE: src/app.py
```python
def main():
    greet()
    return 0
```

FILE: src/util.py
```python
def greet():
    print("héllo 😀")
```

DELETE: src/old.py
"""


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "src" / "old.py").write_text(OLD)
    return root


def store_files(tmp_path: Path) -> list[Path]:
    """Every file of the checkpoint store (the user data dir the tests point XDG_DATA_HOME at)."""
    return [p for p in (tmp_path / "data").rglob("*") if p.is_file()]


def actions(result: dict[str, object]) -> dict[str, tuple[str, bool]]:
    files = result["files"]
    assert isinstance(files, list)
    return {f["path"]: (f["action"], f["changedSince"]) for f in files}


async def start(s: Session) -> None:
    await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})


async def test_composer_checkpoint_restore_and_restore_of_the_restore(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    app, util, old = root / "src" / "app.py", root / "src" / "util.py", root / "src" / "old.py"
    fake.route(*CHAT, openai_stream([COMPOSER_ANSWER]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await start(s)
        assert await s.command("byok.checkpoints") == []
        result = await s.command(
            "byok.composer",
            {
                "instruction": "Move the greeting\ninto util",
                "files": [app.as_uri()],
                "model": "gpt-4o",
                "apply": True,
            },
        )
        assert result["applied"] is True
        apply_workspace_edit(s.apply_edits[-1].edit)
        listed = await s.command("byok.checkpoints")
        assert listed == [
            {
                "id": result["checkpoint"],
                "createdAt": listed[0]["createdAt"],
                "feature": "composer",
                "summary": "Move the greeting into util",
                "files": ["src/app.py", "src/old.py", "src/util.py"],
            }
        ]
        assert not any(p.name.endswith(".checkpoint") for p in root.rglob("*")), "never in the workspace"
        assert [p.suffix for p in store_files(tmp_path) if p.suffix == ".checkpoint"] == [".checkpoint"]

        util.write_text(util.read_text() + "# the user's own line\n")
        restored = await s.command("byok.restoreCheckpoint", {"id": result["checkpoint"], "apply": True})
        assert actions(restored) == {
            "src/app.py": ("restore", False),
            "src/old.py": ("create", False),
            "src/util.py": ("delete", True),
        }
        assert restored["applied"] is True and s.apply_edits[-1].label == "byok: restore checkpoint"
        assert s.apply_edits[-1].edit.document_changes is not None
        apply_workspace_edit(s.apply_edits[-1].edit)
        assert app.read_text() == APP and old.read_text() == OLD and not util.exists()

        listed = await s.command("byok.checkpoints")
        assert [c["feature"] for c in listed] == ["restore", "composer"]
        assert listed[0]["id"] == restored["checkpoint"]
        assert listed[0]["summary"] == "before restoring the composer checkpoint: Move the greeting into util"

        undone = await s.command("byok.restoreCheckpoint", {"id": restored["checkpoint"]})
        assert actions(undone) == {
            "src/app.py": ("restore", False),
            "src/old.py": ("delete", False),
            "src/util.py": ("create", False),
        }
        assert "applied" not in undone and len(s.apply_edits) == 2, "apply: false sends nothing"
        apply_workspace_edit(undone["edit"])
        assert app.read_text() == "def main():\n    greet()\n    return 0\n"
        assert util.read_text() == 'def greet():\n    print("héllo 😀")\n# the user\'s own line\n'
        assert not old.exists()
        assert len(await s.command("byok.checkpoints")) == 3

        again = await s.command("byok.restoreCheckpoint", {"id": undone["checkpoint"]})
        assert {action for action, _ in actions(again).values()} == {"restore", "create", "delete"}


async def test_agent_checkpoint_holds_the_open_buffer_and_restore_uses_its_version(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    app = root / "src" / "app.py"
    unsaved = APP.replace("return 0", "return 42")
    snippet = 'def main():\n    print("bye")\n    return 42\n'
    fake.route(
        *CHAT,
        openai_stream(
            [],
            tool_calls=[
                ("c1", "edit_file", {"path": "src/app.py", "code": snippet}),
                ("c2", "create_file", {"path": "notes/new.txt", "content": "new\n"}),
            ],
        ),
        openai_stream(["Changed the greeting."]),
    )
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await start(s)
        uri = open_document(s, app, unsaved, version=3)
        result = await s.command("byok.agent", {"task": "say bye", "model": "gpt-4o"})
        assert result["stopReason"] == "done" and result["checkpoint"]
        sent = get_converter().unstructure(s.apply_edits[-1].edit)
        edited = apply_text_edits(
            unsaved,
            next(c for c in sent["documentChanges"] if c.get("textDocument", {}).get("uri") == uri)["edits"],
        )
        assert 'print("bye")' in edited and "return 42" in edited
        apply_workspace_edit(s.apply_edits[-1].edit, {uri: unsaved})
        s.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
            )
        )
        restored = await s.command("byok.restoreCheckpoint", {"id": result["checkpoint"]})
        assert actions(restored) == {"notes/new.txt": ("delete", False), "src/app.py": ("restore", False)}
        changes = restored["edit"]["documentChanges"]
        app_change = next(c for c in changes if c.get("textDocument", {}).get("uri") == uri)
        assert app_change["textDocument"] == {"uri": uri, "version": 4}
        assert apply_text_edits(edited, app_change["edits"]) == unsaved, (
            "back to the buffer's text, not the disk's"
        )
        assert {
            "kind": "delete",
            "uri": (root / "notes" / "new.txt").as_uri(),
            "options": {"ignoreIfNotExists": True},
        } in changes


async def test_apply_false_still_records_and_the_bounds_apply(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    answers = [f"FILE: src/n{i}.py\n```python\nN = {i}\n```\n" for i in range(3)]
    fake.route(*CHAT, *[openai_stream([a]) for a in answers], openai_stream(["No changes needed."]))
    settings = settings_for(fake, checkpoints={"max": 2})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await start(s)
        ids = []
        for i in range(3):
            result = await s.command("byok.composer", {"instruction": f"add n{i}", "model": "gpt-4o"})
            assert "applied" not in result
            ids.append(result["checkpoint"])
        assert s.apply_edits == [] and not (root / "src" / "n0.py").exists()
        listed = await s.command("byok.checkpoints")
        assert [c["id"] for c in listed] == [ids[2], ids[1]], "the oldest dropped beyond checkpoints.max"
        assert listed[0]["files"] == ["src/n2.py"]
        unchanged = await s.command("byok.restoreCheckpoint", {"id": ids[2]})
        assert actions(unchanged) == {"src/n2.py": ("unchanged", False)}
        assert unchanged["checkpoint"] is None and unchanged["edit"] == {"documentChanges": []}

        nothing = await s.command("byok.composer", {"instruction": "anything?", "model": "gpt-4o"})
        assert nothing["checkpoint"] is None, "no edits, no checkpoint"

        with pytest.raises(JsonRpcException) as error:
            await s.command("byok.restoreCheckpoint", {"id": ids[0]})
        assert byok_error(error.value)["code"] == "checkpoint_not_found"
        with pytest.raises(JsonRpcException) as error:
            await s.command("byok.restoreCheckpoint", {"id": "../../../etc/passwd"})
        assert error.value.code == -32602 and "id" in str(error.value.data)


async def test_no_workspace_folder_and_an_unwritable_store(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    async with lsp_session(settings_for(fake), server_env) as s:
        with pytest.raises(JsonRpcException) as error:
            await s.command("byok.checkpoints")
        assert byok_error(error.value)["code"] == "bad_request"
    (tmp_path / "data" / "byok").mkdir(parents=True)
    (tmp_path / "data" / "byok" / "checkpoints").write_text("a file where the store belongs")
    fake.route(*CHAT, openai_stream([COMPOSER_ANSWER]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await start(s)
        result = await s.command("byok.composer", {"instruction": "move", "model": "gpt-4o", "streamId": "u"})
        assert result["checkpoint"] is None and result["files"], "the run's edits still come back"
        assert any(
            "no checkpoint recorded" in d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"
        )
        assert any("no checkpoint was recorded" in m.message for m in s.client.messages)
        with pytest.raises(JsonRpcException) as error:
            await s.command("byok.checkpoints")
        assert byok_error(error.value)["code"] == "checkpoint_unavailable"
