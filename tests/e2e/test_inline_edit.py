"""End to end over stdio: byok.inlineEdit replaces a selection or inserts at the cursor, on the user's key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI
from tests.e2e.edits import apply_workspace_edit, open_document, settings_for
from tests.e2e.harness import Session, byok_error, lsp_session
from tests.fakes import FakeServer, anthropic_stream, openai_stream

CHAT = ("POST", "/v1/chat/completions")
SOURCE = 'def greet(name):\n    msg = "héllo 😀 " + name\n    return msg\n'


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def rng(start: tuple[int, int], end: tuple[int, int]) -> dict[str, dict[str, int]]:
    return {"start": {"line": start[0], "character": start[1]}, "end": {"line": end[0], "character": end[1]}}


async def start(s: Session) -> None:
    await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})


def prompt_of(fake: FakeServer) -> str:
    return str(fake.requests[-1].json()["messages"][-1]["content"])


async def test_mid_line_selection_after_non_bmp_text(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The range's characters are UTF-16 units: the emoji before the selection counts twice."""
    fake.route(*CHAT, openai_stream(["Sure:\n```py", "thon\nname.up", "per()\n```\nDone."]))
    path = tmp_path / "greet.py"
    path.write_text(SOURCE)
    line = SOURCE.splitlines()[1]
    column = utf16(line[: line.index("name")])
    async with lsp_session(settings_for(fake), server_env, root=tmp_path.as_uri()) as s:
        await start(s)
        result = await s.command(
            "byok.inlineEdit",
            {
                "uri": path.as_uri(),
                "range": rng((1, column), (1, column + 4)),
                "instruction": "uppercase it",
                "model": "gpt-4o",
                "apply": True,
                "streamId": "ie",
            },
        )
        assert result["newText"] == "name.upper()"
        assert s.text_of("ie") == "name.upper()"
        assert result["model"] == "gpt-4o" and result["applied"] is True
        assert result["usage"]["inputTokens"] == 10
        prompt = prompt_of(fake)
        assert "(language: python)" in prompt
        assert 'msg = "héllo 😀 " + <selection>name</selection>\n' in prompt
        assert len(s.apply_edits) == 1
        assert s.apply_edits[0].label == "byok: inline edit"
        apply_workspace_edit(s.apply_edits[0].edit)
    assert path.read_text() == SOURCE.replace("+ name", "+ name.upper()")


async def test_whole_lines_keep_the_selection_indentation(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    answer = 'Here is the updated code:\n\n```python\nmsg = f"hi {name}"\nif not name:\n    msg = "hi"\nreturn msg\n```\n'
    fake.route(*CHAT, openai_stream([answer[i : i + 7] for i in range(0, len(answer), 7)]))
    path = tmp_path / "greet.py"
    path.write_text(SOURCE)
    async with lsp_session(settings_for(fake), server_env, root=tmp_path.as_uri()) as s:
        await start(s)
        result = await s.command(
            "byok.inlineEdit",
            {
                "uri": path.as_uri(),
                "range": rng((1, 0), (3, 0)),
                "instruction": "f-string",
                "model": "gpt-4o",
            },
        )
        expected = '    msg = f"hi {name}"\n    if not name:\n        msg = "hi"\n    return msg\n'
        assert result["newText"] == expected
        assert s.text_of() == expected
        assert s.apply_edits == [], "apply was not asked for"
        apply_workspace_edit(result["edit"])
    assert path.read_text() == "def greet(name):\n" + expected


async def test_empty_range_inserts_at_the_cursor_in_the_open_document(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The open document's unsaved text is what the model sees; the edit carries its version."""
    fake.route("POST", "/v1/messages", anthropic_stream(["    # say it\n", "    print(msg)"]))
    path = tmp_path / "greet.py"
    path.write_text("stale on disk\n")
    settings = settings_for(fake, features={"inlineEdit": "claude-sonnet-4-5"})
    async with lsp_session(settings, server_env, root=tmp_path.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        uri = open_document(s, path, SOURCE, version=7)
        result = await s.command(
            "byok.inlineEdit",
            {"uri": uri, "range": rng((2, 4), (2, 4)), "instruction": "print it", "apply": True},
        )
        assert result["model"] == "claude-sonnet-4-5"
        assert result["newText"] == "    # say it\n    print(msg)\n"
        change = result["edit"]["documentChanges"][0]
        assert change["textDocument"] == {"uri": uri, "version": 7}
        assert change["edits"][0]["range"] == rng((2, 0), (2, 0))
        body = fake.requests[-1].json()
        assert "<cursor/>return msg" in body["messages"][0]["content"][0]["text"]
        apply_workspace_edit(s.apply_edits[0].edit, {uri: SOURCE})
    assert path.read_text() == SOURCE.replace("    return", "    # say it\n    print(msg)\n    return")


async def test_cancel_leaves_the_document_untouched(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    fake.route(*CHAT, openai_stream(["name", *[".strip()"] * 60], delay_between=0.1))
    path = tmp_path / "greet.py"
    path.write_text(SOURCE)
    async with lsp_session(settings_for(fake), server_env, root=tmp_path.as_uri()) as s:
        await start(s)
        params = types.ExecuteCommandParams(
            command="byok.inlineEdit",
            arguments=[
                {
                    "uri": path.as_uri(),
                    "range": rng((2, 11), (2, 14)),
                    "instruction": "strip",
                    "model": "gpt-4o",
                    "apply": True,
                    "streamId": "c",
                }
            ],
        )
        task = asyncio.ensure_future(
            s.client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="ie-1")
        )
        assert await asyncio.to_thread(fake.wait_requests, 1)
        await asyncio.sleep(0.3)
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="ie-1"))
        with pytest.raises(JsonRpcException) as caught:
            await task
        assert caught.value.code == -32800
        assert await fake.await_disconnect()
        assert s.apply_edits == []
    assert path.read_text() == SOURCE


async def test_refusals(fake: FakeServer, server_env: dict[str, str], tmp_path: Path) -> None:
    """Secret files are never sent; a file over the model's context window names itself; a bad range is -32602/byok."""
    fake.route(*CHAT, openai_stream(["x"]))
    (tmp_path / ".env").write_text("TOKEN=hunter2\n")
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * 4000)
    settings = settings_for(
        fake, models=[{"id": "tiny", "provider": "openai", "model": "gpt-4o", "contextWindow": 500}]
    )
    async with lsp_session(settings, server_env, root=tmp_path.as_uri()) as s:
        await start(s)
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.inlineEdit",
                {
                    "uri": (tmp_path / ".env").as_uri(),
                    "range": rng((0, 0), (1, 0)),
                    "instruction": "x",
                    "model": "gpt-4o",
                },
            )
        assert byok_error(caught.value)["code"] == "bad_request"
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.inlineEdit",
                {"uri": big.as_uri(), "range": rng((0, 0), (4000, 0)), "instruction": "x", "model": "tiny"},
            )
        data = byok_error(caught.value)
        assert data["code"] == "context_too_large" and "big.py" in data["cause"]
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.inlineEdit",
                {
                    "uri": big.as_uri(),
                    "range": rng((9000, 0), (9000, 0)),
                    "instruction": "x",
                    "model": "gpt-4o",
                },
            )
        assert byok_error(caught.value)["code"] == "bad_request"
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.inlineEdit",
                {"uri": big.as_uri(), "range": rng((2, 0), (1, 0)), "instruction": "x"},
            )
        assert caught.value.code == -32602
        assert fake.requests == [], "nothing was sent to the model"
        assert "hunter2" not in s.everything()
