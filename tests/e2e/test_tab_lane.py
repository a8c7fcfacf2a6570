"""Tab served on its own thread (lsp/tab_lane.py), over raw stdio pipes: answers identical to a
single-threaded replay, document changes applied in order before each answer, cancellation honoured.

The client writes keystrokes (`didChange`) and `inlineCompletion` requests back to back without waiting,
in one write, so the reader thread, Tab's lane and the event loop all run at once; every answer must be
the one the same model gives when the same messages are replayed in this process one by one.
"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace import Workspace

from byok.builtin.tab import TabModel
from byok.features import tab
from tests.hostile.helpers import RawServer, frame, hostile_env

REQUEST_CANCELLED = -32800
URI = "file:///lane/module.py"
LINE = "        result = self.session.request_with_retries(method, url, timeout=timeout)"


def _document() -> str:
    """~3,000 lines of code where the typed line's rest depends on how much of it was typed."""
    blocks = []
    for number in range(300):
        blocks.append(
            f"def handler_{number}(self, method, url, timeout):\n"
            f"    if method == 'GET':\n"
            f"{LINE}\n"
            f"        self.count_{number % 7} += 1\n"
            f"        return result\n"
            f"    response = self.fallback_{number}(url)\n"
            f"    return response.json()\n\n\n"
        )
    return "".join(blocks) + "def typed(self, method, url, timeout):\n    if method == 'GET':\n\n"


def _change(version: int, line: int, start: int, end: int, text: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "textDocument/didChange",
        "params": {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": line, "character": start},
                        "end": {"line": line, "character": end},
                    },
                    "text": text,
                }
            ],
        },
    }


def _inline(msg_id: int, line: int, character: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "textDocument/inlineCompletion",
        "params": {
            "textDocument": {"uri": URI},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},
        },
    }


def _script(text: str) -> list[dict[str, Any]]:
    """Type LINE character by character on the last line, asking Tab after each keystroke."""
    line = text.count("\n") - 1
    messages: list[dict[str, Any]] = []
    for typed in range(1, len(LINE) + 1):
        messages.append(_change(typed + 1, line, typed - 1, typed - 1, LINE[typed - 1]))
        messages.append(_inline(1000 + typed, line, typed))
    return messages


def _single_threaded(text: str, messages: list[dict[str, Any]]) -> dict[int, str | None]:
    """The same messages, one after the other, through pygls' workspace and the Tab model in this thread."""
    workspace = Workspace(None)
    workspace.put_text_document(types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text))
    model = TabModel()
    model.open(URI, text)
    answers: dict[int, str | None] = {}
    for message in messages:
        if message["method"] == "textDocument/didChange":
            params = message["params"]
            for change in params["contentChanges"]:
                workspace.update_text_document(
                    types.VersionedTextDocumentIdentifier(uri=URI, version=params["textDocument"]["version"]),
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(**change["range"]["start"]),
                            end=types.Position(**change["range"]["end"]),
                        ),
                        text=change["text"],
                    ),
                )
            model.change(URI, workspace.get_text_document(URI).source)
        else:
            position = message["params"]["position"]
            result = tab.inline_completion(
                model,
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=URI),
                    position=types.Position(**position),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic
                    ),
                ),
            )
            answers[message["id"]] = result.items[0].insert_text if result else None
    return answers


def _collect(server: RawServer, ids: set[int], limit_s: float = 60.0) -> dict[int, dict[str, Any]]:
    """Every answer to `ids` (other messages are skipped), bounded by `limit_s`."""
    answers: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + limit_s
    while ids - answers.keys() and (remaining := deadline - time.monotonic()) > 0:
        try:
            message = server.messages.get(timeout=remaining)
        except queue.Empty:
            break
        if message.get("id") in ids and "method" not in message:
            answers[message["id"]] = message
    return answers


def _suggestion(answer: dict[str, Any]) -> str | None:
    assert "result" in answer, answer
    result = answer["result"]
    return result["items"][0]["insertText"] if result else None


def _open(server: RawServer, text: str) -> None:
    server.send_message(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": text}},
        }
    )


def test_interleaved_changes_and_requests_get_the_single_threaded_answers(tmp_path: Path) -> None:
    text = _document()
    messages = _script(text)
    expected = _single_threaded(text, messages)
    assert len(set(expected.values())) > 10, "the script should make the answers depend on every keystroke"
    server = RawServer(hostile_env(tmp_path))
    try:
        server.initialize()
        _open(server, text)
        # Chats on the event loop meanwhile: byok.status requests interleaved with the keystrokes.
        burst = b"".join(
            frame(message)
            + (
                frame(
                    {
                        "jsonrpc": "2.0",
                        "id": 5000 + index,
                        "method": "workspace/executeCommand",
                        "params": {"command": "byok.status", "arguments": [{}]},
                    }
                )
                if index % 20 == 0
                else b""
            )
            for index, message in enumerate(messages)
        )
        server.send(burst)
        answers = _collect(server, set(expected) | {5000 + i for i in range(0, len(messages), 20)})
        got = {msg_id: _suggestion(answers[msg_id]) for msg_id in expected if msg_id in answers}
        assert got == expected
        assert all("result" in answers.get(5000 + i, {}) for i in range(0, len(messages), 20))
    finally:
        server.close_stdin()
        server.wait_exit(10)
        server.stop()


def test_a_cancelled_tab_request_is_answered_request_cancelled_and_the_next_one_normally(
    tmp_path: Path,
) -> None:
    text = _document()
    line = text.count("\n") - 1
    server = RawServer(hostile_env(tmp_path))
    try:
        server.initialize()
        _open(server, text)
        # Whole-document rewrites keep the lane busy while the reader reads the cancel right behind them.
        rewrites = [
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": URI, "version": 2 + n},
                    "contentChanges": [{"text": text.replace("handler_", f"handler{n}_")}],
                },
            }
            for n in range(6)
        ]
        cancel = {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 77}}
        server.send(
            b"".join(frame(m) for m in [*rewrites, _inline(77, line, 0), cancel, _inline(78, line, 0)])
        )
        answers = _collect(server, {77, 78})
        assert answers[77].get("error", {}).get("code") == REQUEST_CANCELLED, answers[77]
        assert "result" in answers[78], answers[78]
        # A cancel for a request already answered (or unknown) changes nothing and is not an error.
        server.send(frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 78}}))
        assert server.status(79) is not None
    finally:
        server.close_stdin()
        server.wait_exit(10)
        server.stop()
