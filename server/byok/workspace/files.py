"""Reading files for features: the editor's open documents, the bounded disk reader, context files and their limits."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.workspace.errors import ToolError

MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OpenDocument:
    """The editor's current state of an open document."""

    text: str
    version: int | None
    language_id: str | None = None


DocumentLookup = Callable[[str], OpenDocument | None]
"""Returns the open document for a URI, or None when it is not open."""


@dataclass(frozen=True, slots=True)
class ContextFile:
    uri: str
    path: str
    text: str
    document: OpenDocument | None = None
    """The editor's snapshot `text` came from (its version and language); None: read from disk."""


def hard_link_reason(name: str, info: os.stat_result) -> str | None:
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        return (
            f"{name} has {info.st_nlink} hard links; another name for it may lie outside the workspace, "
            "so it is not read from disk or edited"
        )
    return None


def link_refusal(path: Path) -> str | None:
    """Why `path` may not be edited or read from disk: a regular file with several hard links; else None."""
    try:
        info = path.stat()
    except (OSError, ValueError):  # absent or unreadable: the read or write itself reports that
        return None
    return hard_link_reason(path.name, info)


UnreadableKind = Literal["missing", "is_dir", "not_regular", "hard_link", "too_large", "grew", "os_error"]


class Unreadable(Exception):
    """A file the bounded reader refused: `kind` names the check, `message` says why for people."""

    def __init__(self, kind: UnreadableKind, message: str) -> None:
        super().__init__(message)
        self.kind: UnreadableKind = kind
        self.message = message


def check_file(name: str, info: os.stat_result) -> None:
    """Refuse (Unreadable) anything but a regular file with one link and at most MAX_FILE_BYTES."""
    if stat.S_ISDIR(info.st_mode):
        raise Unreadable("is_dir", f"{name} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("not_regular", f"{name} is not a regular file")
    if reason := hard_link_reason(name, info):
        raise Unreadable("hard_link", reason)
    if info.st_size > MAX_FILE_BYTES:
        raise Unreadable("too_large", f"{name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")


def read_bounded(real: Path, name: str) -> bytes:
    """The bytes of the file at `real` (its symlinks resolved; `name` names it in refusals), the one disk reader.

    Checked before it is opened and again on the descriptor; opened without following a symlink and
    without blocking (a FIFO or device is refused, never read); at most MAX_FILE_BYTES.
    """
    try:
        check_file(name, os.stat(real))
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as handle:
            check_file(name, os.fstat(handle.fileno()))
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise Unreadable("missing", f"cannot read {name}: {exc.strerror or exc}") from None
    except (OSError, ValueError) as exc:
        raise Unreadable("os_error", f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable("grew", f"{name} grew past {MAX_FILE_BYTES // 1024 // 1024} MB while it was read")
    return data


def read_disk(path: Path) -> str | None:
    """A UTF-8 text file's content from disk; None when it does not exist. Never a FIFO or device (could block)."""
    try:
        data = read_bounded(Path(os.path.realpath(path)), path.name)
    except Unreadable as exc:
        if exc.kind == "missing":
            return None
        if exc.kind == "grew":
            raise ToolError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB") from None
        raise ToolError(exc.message) from None
    if b"\0" in data[:8192]:
        raise ToolError(f"{path.name} is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{path.name} is not UTF-8 text") from None


def check_context_bytes(sizes: list[tuple[str, int]], max_bytes: int) -> None:
    """Refuse context files over `max_bytes` in total (`context.maxBytes`), naming the largest."""
    total = sum(size for _, size in sizes)
    if total <= max_bytes:
        return
    largest = sorted(sizes, key=lambda item: item[1], reverse=True)[:3]
    names = ", ".join(f"{path} ({size:,} bytes)" for path, size in largest)
    raise ByokError(
        ErrorCode.CONTEXT_TOO_LARGE,
        f"The context files total {total:,} bytes, over the {max_bytes:,}-byte limit",
        cause=f"The largest files: {names}",
        fix="Send fewer or smaller files, or raise byok.context.maxBytes",
        contextBytes=total,
        maxBytes=max_bytes,
    )


def fenced(text: str) -> str:
    """`text` in a code fence longer than any run of backticks it holds, so the file cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}{fence}"


def format_files(files: list[ContextFile]) -> str:
    """The context block the features put before the user's request."""
    return "\n\n".join(f"File: {f.path}\n{fenced(f.text)}" for f in files)
