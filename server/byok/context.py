"""Files sent to a model as context: open documents first, then disk; secret-looking files never."""

from __future__ import annotations

import fnmatch
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import unquote, urlsplit

from byok.errors import ByokError
from byok.prices import estimate_tokens
from byok.protocol import ErrorCode

MAX_FILE_BYTES = 2 * 1024 * 1024
SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "*.p12",
    "*.pfx",
)

OpenDocumentReader = Callable[[str], str | None]
"""Returns the editor's current text of an open document, or None when the URI is not open."""


@dataclass(frozen=True, slots=True)
class ContextFile:
    uri: str
    path: str
    text: str


def uri_to_path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.scheme not in ("file", ""):
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"Only file: URIs can be read, not {parts.scheme}:",
            cause="Unsupported URI scheme",
            fix="Pass file:// URIs",
        )
    path = unquote(parts.path)
    if "\x00" in path or not path:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            "The URI has no usable file path",
            cause="An empty path or a NUL character in a file URI",
            fix="Pass a file:// URI of an existing file",
        )
    return Path(path)


def is_secret_file(path: PurePath) -> bool:
    if ".git" in path.parts:
        return True
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in SECRET_FILE_PATTERNS)


def read_file(uri: str, open_document: OpenDocumentReader | None = None) -> ContextFile:
    path = uri_to_path(uri)
    if is_secret_file(path):
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"{path.name} looks like a secrets file and is never sent to a model",
            cause="Files such as .env, *.pem and private keys are excluded from context",
            fix="Remove it from the request",
        )
    text = open_document(uri) if open_document else None
    if text is None:
        text = _read_regular_file(path)
    return ContextFile(uri, str(path), text)


def _read_regular_file(path: Path) -> str:
    """Read a regular file of bounded size: never a FIFO, a device or /proc file that could block or not end."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"{path.name} is not a regular file",
                cause="Only regular files can be sent as context (not directories, pipes or devices)",
                fix="Pass a regular file",
            )
        if info.st_size > MAX_FILE_BYTES:
            raise ByokError(
                ErrorCode.CONTEXT_TOO_LARGE,
                f"{path.name} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB",
                fix="Select the relevant part instead of the whole file",
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"Cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}",
            cause="The file does not exist or is not readable",
            fix="Check the path",
        ) from None
    return data[:MAX_FILE_BYTES].decode("utf-8", errors="replace")


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
