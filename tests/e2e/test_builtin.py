"""Tab and Apply end to end: the built-in model over stdio, no key and no network involved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.edits import apply_text_edits, open_document
from tests.e2e.harness import byok_error, lsp_session
from tests.fakes import FakeServer

ORIGINAL = """import math


def area(radius):
    return math.pi * radius ** 2


def perimeter(radius):
    return 2 * math.pi * radius
"""

SNIPPET = """```python
# ... existing code ...
def area(radius: float) -> float:
    \"\"\"The area of a circle.\"\"\"
    return math.pi * radius ** 2
# ... existing code ...
```"""

EXPECTED = ORIGINAL.replace(
    "def area(radius):\n", 'def area(radius: float) -> float:\n    """The area of a circle."""\n'
)


async def test_apply_open_document_minimal_edit(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "circle.py"
    path.write_text("stale disk content\n")
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        uri = open_document(s, path, ORIGINAL, version=7)
        result = await s.command("byok.apply", {"uri": uri, "code": SNIPPET})
        assert result["model"] == "builtin-apply" and result["hunks"] == 1 and result["unresolved"] == []
        (change,) = result["edit"]["documentChanges"]
        assert change["textDocument"] == {"uri": uri, "version": 7}
        assert len(change["edits"]) == 1
        assert apply_text_edits(ORIGINAL, change["edits"]) == EXPECTED

        applied = await s.command("byok.apply", {"uri": uri, "code": SNIPPET, "apply": True})
        assert applied["applied"] is True
        (sent,) = s.apply_edits
        assert sent.edit.document_changes is not None

        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.apply", {"uri": uri, "code": SNIPPET, "model": "gpt-4o"})
        assert byok_error(caught.value)["code"] == "builtin_only"
    assert fake.requests == []


async def test_apply_file_on_disk(server_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "circle.py"
    path.write_text(ORIGINAL)
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        result = await s.command("byok.apply", {"uri": path.as_uri(), "code": SNIPPET})
        (change,) = result["edit"]["documentChanges"]
        assert change["textDocument"]["version"] is None
        assert apply_text_edits(ORIGINAL, change["edits"]) == EXPECTED


async def test_apply_a_unified_diff_by_its_context(server_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "circle.py"
    path.write_text(ORIGINAL)
    diff = (
        "```diff\n--- a/circle.py\n+++ b/circle.py\n@@ -99,2 +99,3 @@\n-def area(radius):\n"
        '+def area(radius: float) -> float:\n+    """The area of a circle."""\n'
        "     return math.pi * radius ** 2\n@@ @@\n-not in the file\n+x\n```"
    )
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        result = await s.command("byok.apply", {"uri": path.as_uri(), "code": diff})
    (change,) = result["edit"]["documentChanges"]
    assert apply_text_edits(ORIGINAL, change["edits"]) == EXPECTED
    assert result["hunks"] == 1
    assert result["unresolved"] == ["hunk 2: not applied, its context and removed lines are not in the file"]


async def test_tab_inline_completion_and_completion(server_env: dict[str, str], tmp_path: Path) -> None:
    other = (
        "def load(path):\n    with open(path, encoding='utf-8') as handle:\n        return handle.read()\n"
    )
    current = "def save(path, text):\n    with open(path, enc"
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        open_document(s, tmp_path / "a.py", other)
        uri = open_document(s, tmp_path / "b.py", current)
        position = types.Position(line=1, character=len("    with open(path, enc"))
        inline = await s.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic
                ),
            )
        )
        assert inline is not None
        items = inline.items if isinstance(inline, types.InlineCompletionList) else inline
        assert items[0].insert_text == "oding='utf-8') as handle:"
        completion = await s.client.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
        )
        assert isinstance(completion, types.CompletionList)
        assert completion.items[0].text_edit is not None
        assert completion.items[0].text_edit.new_text == "oding='utf-8') as handle:"


async def test_tab_learns_from_the_files_beside_an_opened_document_but_never_secrets(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """Nearby files (same folder, same extension, inside the workspace) teach Tab; a secrets file does not."""
    (tmp_path / "client.py").write_text("response = self.session.request_with_retries(method, url)\n" * 2)
    (tmp_path / ".env.py").write_text("token = self.session.TOKEN_FAKE_NEVER_LEARNT\n" * 5)
    typed = "result = self.session.req"
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        uri = open_document(s, tmp_path / "main.py", typed)

        async def suggestion(line: str) -> str | None:
            s.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=line)],
                )
            )
            inline = await s.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=0, character=len(line)),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked
                    ),
                )
            )
            items = inline.items if isinstance(inline, types.InlineCompletionList) else inline
            return items[0].insert_text if items else None

        for _ in range(100):  # the nearby files are read in the background after didOpen
            if (got := await suggestion(typed)) is not None:
                break
            await asyncio.sleep(0.05)
        assert got == "uest_with_retries(method, url)"
        assert await suggestion("token = self.session.TOK") is None


async def test_tab_next_edit_after_rename(server_env: dict[str, str], tmp_path: Path) -> None:
    text = "total = 0\nfor item in items:\n    total += item\nprint(total)\n"
    async with lsp_session({}, server_env, root=tmp_path.as_uri()) as s:
        uri = open_document(s, tmp_path / "sum.py", text)
        renamed = text.replace("total = 0", "subtotal = 0", 1)
        s.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=renamed)],
            )
        )
        inline = await s.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=0, character=len("subtotal = 0")),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic
                ),
            )
        )
        assert inline is not None
        items = inline.items if isinstance(inline, types.InlineCompletionList) else inline
        item = items[0]
        assert item.insert_text == "subtotal"
        assert item.range is not None and item.range.start.line == 2
