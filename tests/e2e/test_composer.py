"""End to end over stdio: byok.composer turns one answer into ONE WorkspaceEdit across files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.edits import apply_workspace_edit, open_document, settings_for
from tests.e2e.harness import byok_error, lsp_session
from tests.fakes import FakeServer, gemini_stream, openai_stream

CHAT = ("POST", "/v1/chat/completions")
APP = 'def main():\n    print("héllo 😀")\n    return 0\n\n\ndef other():\n    return 1\n'

ANSWER = """I'll move the greeting into a helper, add it, and drop the old module.

### FILE: src/app.py
```python
from src.util import greet


def main():
    greet()
    return 0

# ... existing code ...
```

FILE: src/util.py
```python
def greet():
    print("héllo 😀")
```

DELETE: src/old.py

FILE: ../outside.py
```python
```

FILE: .env
```
TOKEN=stolen
```

FILE: ABSOLUTE
```
x
```
"""


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "src" / "old.py").write_text("OLD = True\n")
    (root / ".env").write_text("TOKEN=secret\n")
    return root


async def test_one_workspace_edit_for_all_files_and_refusals(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    answer = ANSWER.replace("ABSOLUTE", str(tmp_path / "abs.txt"))
    fake.route(*CHAT, openai_stream([answer[i : i + 40] for i in range(0, len(answer), 40)]))
    app = root / "src" / "app.py"
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command(
            "byok.composer",
            {
                "instruction": "Move the greeting into src/util.py",
                "files": [app.as_uri()],
                "model": "gpt-4o",
                "apply": True,
                "streamId": "co",
            },
        )
        assert s.text_of("co") == answer
        prompt = fake.requests[-1].json()["messages"][1]["content"]
        assert "File: src/app.py\n```\n" + APP + "```" in prompt
        assert result["applied"] is True and result["model"] == "gpt-4o"
        assert len(s.apply_edits) == 1
        changes = result["edit"]["documentChanges"]
        assert [c.get("kind", "edit") for c in changes] == ["edit", "delete", "create", "edit"]
        assert changes[0]["textDocument"] == {"uri": app.as_uri(), "version": None}
        assert {f["path"]: (f["action"], f["hunks"] > 0) for f in result["files"]} == {
            "src/app.py": ("modify", True),
            "src/old.py": ("delete", False),
            "src/util.py": ("create", True),
        }
        reasons = {r["path"]: r["reason"] for r in result["refused"]}
        assert set(reasons) == {"../outside.py", ".env", str(tmp_path / "abs.txt")}
        assert "outside the workspace" in reasons["../outside.py"]
        assert "secrets" in reasons[".env"]
        assert any(d["delta"]["type"] == "status" and "refused" in d["delta"]["text"] for d in s.deltas)
        apply_workspace_edit(s.apply_edits[0].edit)
    assert app.read_text() == (
        "from src.util import greet\n\n\ndef main():\n    greet()\n    return 0\n\n\ndef other():\n    return 1\n"
    )
    assert (root / "src" / "util.py").read_text() == 'def greet():\n    print("héllo 😀")\n'
    assert not (root / "src" / "old.py").exists()
    assert not (tmp_path / "outside.py").exists()
    assert (root / ".env").read_text() == "TOKEN=secret\n"
    assert not (tmp_path / "abs.txt").exists()


async def test_open_document_version_and_unplaced_parts_on_gemini(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The open document's unsaved text is merged into; parts Apply cannot place are reported, not guessed."""
    answer = (
        "FILE: src/app.py\n```python\ndef other():\n    return 2\n```\n\n"
        "FILE: src/old.py\n```python\n# ... existing code ...\nNOWHERE = 1\n# ... existing code ...\nELSEWHERE = 2\n"
        "# ... existing code ...\n```\n"
    )
    fake.route("POST", r"/v1beta/models/gemini-2\.5-flash:streamGenerateContent", gemini_stream([answer]))
    root = workspace(tmp_path)
    app = root / "src" / "app.py"
    unsaved = APP.replace("return 0", "return 42")
    settings = settings_for(fake, features={"composer": "gemini-2.5-flash"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "google", "key": TEST_KEY_GOOGLE})
        uri = open_document(s, app, unsaved, version=3)
        result = await s.command("byok.composer", {"instruction": "other returns 2", "files": [uri]})
        assert "return 42" in fake.requests[-1].json()["contents"][0]["parts"][0]["text"]
        assert s.apply_edits == []
        edit = result["edit"]
        assert [c["textDocument"] for c in edit["documentChanges"]] == [{"uri": uri, "version": 3}]
        old = next(f for f in result["files"] if f["path"] == "src/old.py")
        assert old["hunks"] == 0 and len(old["unresolved"]) == 2
        apply_workspace_edit(edit, {uri: unsaved})
    assert app.read_text() == unsaved.replace("return 1", "return 2")
    assert (root / "src" / "old.py").read_text() == "OLD = True\n"


async def test_context_too_large_names_the_largest_files(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    (root / "big.py").write_text("x = 1\n" * 3000)
    (root / "small.py").write_text("y = 2\n")
    settings = settings_for(
        fake, models=[{"id": "tiny", "provider": "openai", "model": "gpt-4o", "contextWindow": 1000}]
    )
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.composer",
                {
                    "instruction": "x",
                    "files": [(root / "small.py").as_uri(), (root / "big.py").as_uri()],
                    "model": "tiny",
                },
            )
        data = byok_error(caught.value)
        assert data["code"] == "context_too_large"
        assert data["cause"].index("big.py") < data["cause"].index("small.py")
        assert "@Files" in data["fix"]
        assert fake.requests == []


FORMATS_ANSWER = """Here is the change, in the ways models really write it.

### src/app.py
```python
def other():
    return 2
```

```diff
--- a/src/old.py
+++ b/src/old.py
@@ -9,1 +9,2 @@
 OLD = True
+NEW = True
```

```python src/made.py
MADE = 1
```

Run the tests afterwards:

```bash
pytest -q
```
"""


async def test_the_formats_real_models_write_and_untied_blocks_are_said(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Header lines, fence paths and unified diffs all land; a block tied to no file is reported, not lost."""
    root = workspace(tmp_path)
    fake.route(*CHAT, openai_stream([FORMATS_ANSWER]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command(
            "byok.composer", {"instruction": "x", "model": "gpt-4o", "streamId": "f", "apply": True}
        )
        assert {f["path"]: f["action"] for f in result["files"]} == {
            "src/app.py": "modify",
            "src/old.py": "modify",
            "src/made.py": "create",
        }
        [untied] = result["unresolved"]
        assert (untied["block"], untied["language"], untied["reason"]) == (
            "pytest -q\n",
            "bash",
            "no file named for this code block",
        )
        statuses = [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"]
        assert any("not tied to a file" in text for text in statuses)
        apply_workspace_edit(s.apply_edits[0].edit)
    assert (root / "src" / "app.py").read_text() == APP.replace("return 1", "return 2")
    assert (root / "src" / "old.py").read_text() == "OLD = True\nNEW = True\n"
    assert (root / "src" / "made.py").read_text() == "MADE = 1\n"


async def test_an_answer_with_only_unnamed_blocks_is_never_an_empty_edit_without_a_word(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(*CHAT, openai_stream(["Try this:\n```js\nconsole.log(1)\n```\nand this:\n```js\nx()\n```\n"]))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command(
            "byok.composer",
            {"instruction": "x", "model": "gpt-4o", "files": [(root / "src" / "app.py").as_uri()]},
        )
    assert result["edit"]["documentChanges"] == []
    assert [u["line"] for u in result["unresolved"]] == [2, 6]
