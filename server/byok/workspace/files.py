"""Reading files for features: the editor's open documents, the bounded disk reader, context files and their limits."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.tokens import estimate_tokens
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


def read_disk(path: Path) -> str | None:
    """A text file's content from disk; None when it does not exist. Never a FIFO or device (could block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{path.name} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{path.name} is not a regular file")
    if reason := hard_link_reason(path.name, info):
        raise ToolError(reason)
    if info.st_size > MAX_FILE_BYTES:
        raise ToolError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ToolError(f"cannot read {path.name}: {exc.strerror or exc}") from None
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


def format_files(files: list[ContextFile]) -> str:
    """The context block the features put before the user's request."""
    return "\n\n".join(f"File: {f.path}\n```\n{f.text}\n```" for f in files)


def check_context_window(files: list[ContextFile], other_text: str, context_window: int | None) -> None:
    """Refuse a request that cannot fit, naming the largest files."""
    if not context_window:
        return
    total = estimate_tokens(other_text) + sum(estimate_tokens(f.text) for f in files)
    if total <= context_window:
        return
    largest = sorted(files, key=lambda f: len(f.text), reverse=True)[:3]
    names = ", ".join(f"{f.path} (~{estimate_tokens(f.text)} tokens)" for f in largest)
    raise ByokError(
        ErrorCode.CONTEXT_TOO_LARGE,
        f"About {total} tokens, over the model's {context_window}-token context window",
        cause=f"The largest files: {names}" if names else "The messages alone are too long",
        fix="Send fewer files (@Files, not @Codebase, when you know the location)",
        estimatedTokens=total,
    )
