"""Files sent to a model as context: open documents first, then disk; secret-looking files never."""

from __future__ import annotations

import fnmatch
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
    return Path(unquote(parts.path))


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
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ByokError(
                    ErrorCode.CONTEXT_TOO_LARGE,
                    f"{path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB",
                    fix="Select the relevant part instead of the whole file",
                )
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"Cannot read {path}: {exc.strerror or exc}",
                cause="The file does not exist or is not readable",
                fix="Check the path",
            ) from None
    return ContextFile(uri, str(path), text)


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
