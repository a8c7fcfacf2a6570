"""Checkpoints: what the files an agent or composer run changed held before it, stored per workspace in the
user data dir (never in the workspace), bounded, and each written atomically.

One checkpoint is one file named by its id (creation time in nanoseconds, then random hex, so names sort
oldest first): a first line of JSON metadata (read alone when listing) and a second line with the
contents. It is written to a temporary file, flushed to disk and renamed over its name, so a process
killed mid-write leaves either the old file or the new one, and at most a stray temporary file that
listing ignores and pruning removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from byok.base.atomic import write_atomic
from byok.base.config import CheckpointSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".checkpoint"
ID_PATTERN = r"^[0-9]{19}-[0-9a-f]{8}$"
MAX_METADATA_BYTES = 4 * 1024 * 1024
"""The longest first line read when listing (the metadata of a checkpoint of many files)."""
STALE_TEMPORARY_S = 600.0
"""A temporary file this old belongs to a writer that died; pruning removes it."""
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class FileSnapshot:
    """One file of a checkpoint: its workspace-relative path, its text then, and what the recorded edit left."""

    path: str
    before: str | None
    """The text before the edit; None: the file did not exist."""
    after_sha256: str | None
    """The SHA-256 of the text the edit left; None: the edit left no file. `changedSince` compares it."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str
    created_at: float
    feature: str
    summary: str
    files: tuple[FileSnapshot, ...]

    def info(self) -> dict[str, Any]:
        """As `byok.checkpoints` lists it."""
        return {
            "id": self.id,
            "createdAt": datetime.fromtimestamp(self.created_at, UTC).isoformat(timespec="milliseconds"),
            "feature": self.feature,
            "summary": self.summary,
            "files": [snapshot.path for snapshot in self.files],
        }


def new_checkpoint_id() -> str:
    return f"{time.time_ns():019d}-{secrets.token_hex(4)}"


def content_hash(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def default_directory() -> Path:
    import platformdirs

    return platformdirs.user_data_path("byok") / "checkpoints"


def workspace_key(root: Path) -> str:
    """A workspace's folder name in the store: a hash of its real path (the path itself is not shown)."""
    return hashlib.sha256(
        str(Path(os.path.abspath(root)).resolve()).encode("utf-8", "surrogatepass")
    ).hexdigest()[:32]


def _unavailable(directory: Path, reason: str) -> ByokError:
    return ByokError(
        ErrorCode.CHECKPOINT_UNAVAILABLE,
        f"The checkpoint store cannot be written: {reason}",
        cause=f"byok keeps checkpoints in {directory}",
    )


def _not_found(checkpoint_id: str, reason: str) -> ByokError:
    return ByokError(
        ErrorCode.CHECKPOINT_NOT_FOUND,
        f"Checkpoint {checkpoint_id} {reason}",
        cause="Only the newest checkpoints are kept (checkpoints.max, checkpoints.maxMB), per workspace",
        fix="Pick a checkpoint from byok.checkpoints for this workspace",
    )


class CheckpointStore:
    """The checkpoints of one workspace: save (then prune the oldest), list newest first, load one."""

    def __init__(self, directory: Path, settings: CheckpointSettings) -> None:
        self.directory = directory
        self.max_count = settings.max_count
        self.max_bytes = settings.max_bytes

    @classmethod
    def for_workspace(
        cls, root: Path, settings: CheckpointSettings, base: Path | None = None
    ) -> CheckpointStore:
        return cls((base or default_directory()) / workspace_key(root), settings)

    def _path(self, checkpoint_id: str) -> Path:
        if not _ID.match(checkpoint_id):
            raise _not_found(checkpoint_id[:40], "is not a checkpoint id")
        return self.directory / f"{checkpoint_id}{SUFFIX}"

    def save(self, checkpoint: Checkpoint) -> None:
        """Write (or rewrite) the checkpoint atomically, then drop the oldest beyond the bounds."""
        metadata = {
            "format": FORMAT,
            "id": checkpoint.id,
            "createdAt": checkpoint.created_at,
            "feature": checkpoint.feature,
            "summary": checkpoint.summary,
            "files": [
                {"path": f.path, "existed": f.before is not None, "after": f.after_sha256}
                for f in checkpoint.files
            ],
        }
        contents = [f.before for f in checkpoint.files]
        data = (
            json.dumps(metadata, ensure_ascii=True).encode()
            + b"\n"
            + json.dumps({"contents": contents}, ensure_ascii=False).encode("utf-8", "surrogatepass")
            + b"\n"
        )
        final = self._path(checkpoint.id)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(final, data)
        except OSError as exc:
            raise _unavailable(self.directory, exc.strerror or str(exc)) from None
        self.prune(keep=checkpoint.id)

    def prune(self, keep: str | None = None) -> None:
        """Drop the oldest checkpoints beyond `checkpoints.max` and `checkpoints.maxMB` (never `keep`), and
        temporary files of writers that died."""
        try:
            entries = sorted(os.scandir(self.directory), key=lambda entry: entry.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _unavailable(self.directory, exc.strerror or str(exc)) from None
        checkpoints: list[tuple[Path, int]] = []
        now = time.time()
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # removed meanwhile by another byok process
            if entry.name.endswith(SUFFIX):
                checkpoints.append((Path(entry.path), info.st_size))
            elif entry.name.endswith(".tmp") and now - info.st_mtime > STALE_TEMPORARY_S:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        total = sum(size for _, size in checkpoints)
        count = len(checkpoints)
        for path, size in checkpoints:  # oldest first
            if count <= self.max_count and total <= self.max_bytes:
                break
            if path.name == f"{keep}{SUFFIX}":
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            count, total = count - 1, total - size

    def list(self) -> list[dict[str, Any]]:
        """Every checkpoint of the workspace as `byok.checkpoints` shows it, newest first (a damaged one is
        skipped); contents are not read."""
        try:
            names = sorted((n for n in os.listdir(self.directory) if n.endswith(SUFFIX)), reverse=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _unavailable(self.directory, exc.strerror or str(exc)) from None
        found: list[dict[str, Any]] = []
        for name in names:
            try:
                found.append(self._read(self.directory / name, with_contents=False).info())
            except ByokError as exc:
                log.warning("skipping checkpoint %s: %s", name, exc.message)
        return found

    def load(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint with its contents; `checkpoint_not_found` when it is gone or damaged."""
        return self._read(self._path(checkpoint_id), with_contents=True)

    def _read(self, path: Path, *, with_contents: bool) -> Checkpoint:
        checkpoint_id = path.name.removesuffix(SUFFIX)
        try:
            with open(path, "rb") as handle:
                first = handle.readline(MAX_METADATA_BYTES + 1)
                second = handle.read() if with_contents else b""
        except FileNotFoundError:
            raise _not_found(
                checkpoint_id, "does not exist (it may have been dropped as the oldest)"
            ) from None
        except OSError as exc:
            raise _not_found(checkpoint_id, f"cannot be read: {exc.strerror or exc}") from None
        try:
            metadata = json.loads(first)
            if metadata.get("format") != FORMAT or metadata.get("id") != checkpoint_id:
                raise ValueError("unknown format")
            entries = metadata["files"]
            contents: list[Any] = json.loads(second)["contents"] if with_contents else [None] * len(entries)
            if len(contents) != len(entries):
                raise ValueError("contents do not match the files")
            files = tuple(
                FileSnapshot(
                    str(entry["path"]),
                    _content(content, entry["existed"], with_contents),
                    entry["after"] if isinstance(entry["after"], str) else None,
                )
                for entry, content in zip(entries, contents, strict=True)
            )
            return Checkpoint(
                checkpoint_id,
                float(metadata["createdAt"]),
                str(metadata["feature"]),
                str(metadata["summary"]),
                files,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _not_found(checkpoint_id, "is damaged and cannot be restored") from None


def _content(content: Any, existed: Any, with_contents: bool) -> str | None:
    if not with_contents or not existed:
        return None
    if not isinstance(content, str):
        raise ValueError("a file's content is not text")
    return content
