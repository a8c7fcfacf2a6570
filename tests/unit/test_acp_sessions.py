"""The ACP session store: atomic JSON files in the data dir, chunks joined for replay, bounds, bad ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byok.acp.sessions import MAX_UPDATES, SessionStore
from byok.base.errors import ByokError
from byok.base.names import AcpMode


def chunk(kind: str, text: str) -> dict[str, object]:
    return {"sessionUpdate": kind, "content": {"type": "text", "text": text}}


def test_round_trip_joins_chunks_and_keeps_the_order(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    session = store.create("/work/project")
    session.mode = AcpMode.EDIT
    for update in [
        chunk("user_message_chunk", "Fix it"),
        chunk("agent_thought_chunk", "Let me "),
        chunk("agent_thought_chunk", "look."),
        {"sessionUpdate": "tool_call", "toolCallId": "byok-1", "title": "Read a.py"},
        chunk("agent_message_chunk", "Do"),
        chunk("agent_message_chunk", "ne."),
    ]:
        session.record(update)
    session.remember("user", "Fix it")
    session.remember("assistant", "Done.")
    store.save(session)
    assert [p.name for p in (tmp_path / "sessions").iterdir()] == [f"{session.session_id}.json"]
    loaded = store.load(session.session_id)
    assert loaded.mode == AcpMode.EDIT and loaded.cwd == "/work/project"
    assert [u["sessionUpdate"] for u in loaded.updates] == [
        "user_message_chunk",
        "agent_thought_chunk",
        "tool_call",
        "agent_message_chunk",
    ]
    assert loaded.updates[1]["content"]["text"] == "Let me look."
    assert loaded.updates[3]["content"]["text"] == "Done."
    assert [(t.role, t.text) for t in loaded.history] == [("user", "Fix it"), ("assistant", "Done.")]


def test_updates_are_bounded_and_bad_ids_never_reach_the_disk(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = store.create("/p")
    for number in range(MAX_UPDATES + 10):
        session.record({"sessionUpdate": "tool_call", "toolCallId": f"byok-{number}", "title": "x"})
    assert len(session.updates) == MAX_UPDATES and session.updates[0]["toolCallId"] == "byok-10"
    for bad in ("../../etc/passwd", "nope", session.session_id.upper(), session.session_id + "\n"):
        with pytest.raises(ByokError) as refused:
            store.load(bad)
        assert refused.value.code.value == "bad_request"


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = store.create("/p")
    store.save(session)
    path = tmp_path / f"{session.session_id}.json"
    path.write_text(json.dumps({"sessionId": 5})[:7])
    with pytest.raises(ByokError) as damaged:
        store.load(session.session_id)
    assert "unreadable" in damaged.value.message and "new session" in damaged.value.fix
