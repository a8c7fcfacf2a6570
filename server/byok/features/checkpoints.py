"""Checkpoints of agent and composer runs, and restoring one (itself recorded first, so it can be undone).

A run records its checkpoint when its edits are produced, whatever happens to them next (applied, returned
with `apply: false`, rejected in a preview): for every file the edits touch, the text it has at that moment
(the editor's buffer when the file is open, else the disk's), or that it does not exist.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from byok.base.config import CamelModel
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.session import Backend
from byok.core.turn import StreamSink
from byok.workspace.changes import Changes, FileState
from byok.workspace.checkpoints import (
    ID_PATTERN,
    Checkpoint,
    CheckpointStore,
    FileSnapshot,
    content_hash,
    new_checkpoint_id,
)
from byok.workspace.edits import EditApplier, document_changes, workspace_edit
from byok.workspace.errors import ToolError
from byok.workspace.files import link_refusal, read_disk
from byok.workspace.jail import Workspace

MAX_SUMMARY_CHARS = 200


class RestoreCheckpointParams(CamelModel):
    id: str = Field(pattern=ID_PATTERN)
    apply: bool = False


def checkpoint_store(backend: Backend, workspace: Workspace) -> CheckpointStore:
    return CheckpointStore.for_workspace(workspace.root, backend.settings.checkpoints)


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_SUMMARY_CHARS else line[: MAX_SUMMARY_CHARS - 1] + "…"


def _current(workspace: Workspace, path: Path) -> tuple[str | None, int | None]:
    """The file's text now (the editor's buffer when open, else the disk's; None: no such file), and the
    open document's version."""
    document = workspace.open_document(path)
    if document is not None:
        return document.text, document.version
    return read_disk(path), None


class RunCheckpoint:
    """The one checkpoint of an agent or composer run; recorded again when later steps touch more files."""

    def __init__(self, backend: Backend, changes: Changes, feature: str, summary: str) -> None:
        self.backend = backend
        self.changes = changes
        self.feature = feature
        self.summary = _summary(summary)
        self.id: str | None = None
        self.created_at = time.time()
        self._before: dict[Path, str | None] = {}

    def _prior(self, state: FileState) -> str | None:
        try:
            return _current(self.changes.workspace, state.path)[0]
        except ToolError:  # unreadable now (became binary?): what the run read first is the best known
            return state.original

    async def record(self, sink: StreamSink) -> str | None:
        """Save the checkpoint of the files the run changed so far; its id, or None when nothing changed or
        the store cannot be written (the user is told; the run goes on)."""
        changed = [state for state in self.changes.files.values() if state.text != state.original]
        if not changed and self.id is None:
            return None
        for state in changed:
            if state.path not in self._before:
                self._before[state.path] = self._prior(state)
        files = tuple(
            FileSnapshot(
                self.changes.workspace.relative(path),
                before,
                content_hash(self.changes.files[path].text),
            )
            for path, before in sorted(self._before.items())
        )
        checkpoint = Checkpoint(
            self.id or new_checkpoint_id(), self.created_at, self.feature, self.summary, files
        )
        store = checkpoint_store(self.backend, self.changes.workspace)
        try:
            await asyncio.to_thread(store.save, checkpoint)
        except ByokError as exc:
            if exc.code != ErrorCode.CHECKPOINT_UNAVAILABLE:
                raise
            sink.delta("status", f"no checkpoint recorded: {exc.message}")
            self.backend.warn(f"byok: no checkpoint was recorded for this {self.feature} run: {exc.message}")
            return None
        self.id = checkpoint.id
        return self.id


def _require(workspace: Workspace | None) -> Workspace:
    if workspace is None:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            "Checkpoints need a workspace folder",
            cause="Checkpoints are kept per workspace, and the editor did not send a workspace root",
            fix="Open the folder the agent or composer worked in",
        )
    return workspace


async def list_checkpoints(backend: Backend, workspace: Workspace | None) -> list[dict[str, Any]]:
    """The workspace's checkpoints, newest first."""
    store = checkpoint_store(backend, _require(workspace))
    return await asyncio.to_thread(store.list)


def _action(current: str | None, target: str | None) -> str:
    if current == target:
        return "unchanged"
    if target is None:
        return "delete"
    return "create" if current is None else "restore"


async def restore_checkpoint(
    backend: Backend,
    params: RestoreCheckpointParams,
    workspace: Workspace | None,
    apply_edit: EditApplier | None = None,
) -> dict[str, Any]:
    """The WorkspaceEdit that puts every file of the checkpoint back, after recording the files' current
    state as a new checkpoint (so the restore can be undone); sent to the editor when `params.apply`."""
    workspace = _require(workspace)
    store = checkpoint_store(backend, workspace)
    checkpoint = await asyncio.to_thread(store.load, params.id)
    entries: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    undo: list[FileSnapshot] = []
    for snapshot in checkpoint.files:
        try:
            path = workspace.resolve(snapshot.path)
            current, version = _current(workspace, path)
            if current is not None and snapshot.before != current and (reason := link_refusal(path)):
                raise ToolError(reason)
        except ToolError as exc:
            entries.append(
                {"path": snapshot.path, "action": "skipped", "changedSince": False, "reason": str(exc)}
            )
            continue
        entries.append(
            {
                "path": snapshot.path,
                "action": _action(current, snapshot.before),
                "changedSince": current != snapshot.before and content_hash(current) != snapshot.after_sha256,
            }
        )
        changes += document_changes(path.as_uri(), current, snapshot.before, version)
        undo.append(FileSnapshot(snapshot.path, current, content_hash(snapshot.before)))
    undo_id = None
    if changes:
        summary = _summary(f"before restoring the {checkpoint.feature} checkpoint: {checkpoint.summary}")
        before_restore = Checkpoint(new_checkpoint_id(), time.time(), "restore", summary, tuple(undo))
        await asyncio.to_thread(store.save, before_restore)
        undo_id = before_restore.id
    edit = workspace_edit(changes)
    result: dict[str, Any] = {"edit": edit, "files": entries, "checkpoint": undo_id}
    if params.apply and apply_edit is not None and changes:
        result["applied"] = await apply_edit(edit)
    return result
