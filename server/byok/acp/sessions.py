"""ACP sessions kept in the user data dir: mode, model, the conversation, and the updates to replay on load.

One JSON file per session (`<data dir>/acp-sessions/<id>.json`), written atomically (a temporary file, then
`os.replace`), so a kill mid-write leaves the previous version. Bounded: the replayed updates keep the
newest `MAX_UPDATES`, the conversation the newest `MAX_HISTORY_CHARS`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, ValidationError

from byok.base.atomic import write_atomic
from byok.base.config import ReasoningEffort
from byok.base.errors import ByokError
from byok.base.names import AUTO_MODEL, AcpMode, ErrorCode

MAX_UPDATES = 2000
MAX_HISTORY_CHARS = 200_000
SESSION_ID = re.compile(r"[0-9a-f]{32}")


class Turn(BaseModel):
    """One message of the conversation the model sees again in later prompts."""

    role: Literal["user", "assistant"]
    text: str


class StoredSession(BaseModel):
    session_id: str
    cwd: str
    mode: AcpMode = AcpMode.AGENT
    model: str = AUTO_MODEL
    reasoning: ReasoningEffort | None = None
    """The reasoning effort asked for; None: byok's settings decide (the `auto` option)."""
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    history: list[Turn] = Field(default_factory=list)
    updates: list[dict[str, Any]] = Field(default_factory=list)
    """`session/update` payloads as sent, consecutive message chunks of one kind joined."""

    def record(self, update: dict[str, Any]) -> None:
        """Keep an update for replay, joined to the previous one when both are chunks of the same kind."""
        last = self.updates[-1] if self.updates else None
        kind = update.get("sessionUpdate")
        if (
            last is not None
            and kind in ("agent_message_chunk", "agent_thought_chunk", "user_message_chunk")
            and last.get("sessionUpdate") == kind
            and last["content"].get("type") == "text" == update["content"].get("type")
        ):
            last["content"]["text"] += update["content"]["text"]
            return
        self.updates.append(update)
        del self.updates[:-MAX_UPDATES]

    def remember(self, role: Literal["user", "assistant"], text: str) -> None:
        self.history.append(Turn(role=role, text=text))
        while sum(len(t.text) for t in self.history) > MAX_HISTORY_CHARS and len(self.history) > 1:
            del self.history[0]


def default_sessions_dir() -> Path:
    return platformdirs.user_data_path("byok") / "acp-sessions"


class SessionStore:
    """Reads and writes stored sessions; never inside the workspace."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_sessions_dir()

    def create(self, cwd: str) -> StoredSession:
        return StoredSession(session_id=uuid.uuid4().hex, cwd=cwd)

    def _path(self, session_id: str) -> Path:
        if not SESSION_ID.fullmatch(session_id):
            raise _not_found(session_id)
        return self.directory / f"{session_id}.json"

    def load(self, session_id: str) -> StoredSession:
        try:
            raw = self._path(session_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _not_found(session_id) from None
        try:
            return StoredSession.model_validate_json(raw)
        except ValidationError:
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"The stored session {session_id} is unreadable",
                cause="Its file in byok's data folder is damaged",
                fix="Start a new session",
            ) from None

    def save(self, session: StoredSession) -> None:
        session.updated_at = time.time()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self._path(session.session_id)
        write_atomic(target, json.dumps(session.model_dump(mode="json"), ensure_ascii=False))


def _not_found(session_id: str) -> ByokError:
    return ByokError(
        ErrorCode.BAD_REQUEST,
        f"There is no stored session {session_id[:40]!r}",
        cause="session/load names a session this byok never stored (or one that was deleted)",
        fix="Start a new session",
    )
