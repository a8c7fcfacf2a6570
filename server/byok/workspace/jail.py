"""Files a feature reads or edits for the user, through ONE jail.

Chat and Composer `files`, the inline-edit and Apply `uri` and the agent's tools all pass the same rules:
- never /proc, /sys or /dev, and never a secret-looking file (matched case-insensitively), even when the
  editor has it open;
- a document the editor has open is served from the editor's text;
- anything else comes from disk only when its real path (symlinks followed) lies inside a workspace folder
  and it is a regular file with ONE link (a hard link has no target the jail could check);
- a file with more than one link is never edited, open or not;
- the context of one request is capped in bytes (`context.maxBytes`), whatever the model's window.
The agent's `Workspace` resolves tool paths by the same rules, inside its one root folder.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import unquote, urlsplit

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.workspace.errors import PathRefused
from byok.workspace.files import (
    ContextFile,
    DocumentLookup,
    OpenDocument,
    Unreadable,
    check_context_bytes,
    check_file,
    link_refusal,
    read_bounded,
)

SPECIAL_DIRECTORIES = (PurePosixPath("/proc"), PurePosixPath("/sys"), PurePosixPath("/dev"))
"""Kernel and device trees: their files can be endless, block, or hold the server's own environment."""

SECRET_DIRECTORIES = frozenset(
    {
        ".git",
        ".ssh",
        ".aws",
        ".gnupg",
        ".kube",
        ".docker",
        ".azure",
        ".oci",
        ".password-store",
        ".vault",
        ".op",
        ".huggingface",
        ".cloudflared",
        ".fly",
        ".netlify",
        ".vercel",
        ".wrangler",
        "python_keyring",
        "com.vercel.cli",
    }
)
"""Directories (anywhere in a path, any case) whose every file is off limits."""
SECRET_SUBPATHS = (
    ("gcloud", "credentials.db"),
    ("gcloud", "access_tokens.db"),
    ("gcloud", "legacy_credentials"),
    (".config", "gcloud"),
    (".config", "gh"),
    (".config", "hub"),
    (".config", "op"),
    (".config", "github-copilot"),
    (".config", "configstore"),
    (".config", "netlify"),
    (".config", "doctl"),
    (".config", "hcloud"),
    (".config", "stripe"),
    (".config", ".wrangler"),
    (".local", "share", "keyrings"),
    (".codex", "auth.json"),
    (".codex", "history.jsonl"),
    (".composer", "auth.json"),
    ("composer", "auth.json"),
    ("huggingface", "token"),
    ("huggingface", "stored_tokens"),
    (".m2", "settings.xml"),
    (".gradle", "gradle.properties"),
    (".circleci", "cli.yml"),
)
"""Runs of path components that hold credentials although their names alone look ordinary (a project's own
`auth.json` may be a translation file, its `gradle.properties` ordinary build settings)."""
SECRET_FILE_PATTERNS = (
    # environment files
    ".env",
    ".env.*",
    ".env-*",
    ".env_*",
    "*.env",
    ".envrc",
    # private keys, certificates with keys, keystores, password databases
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.p8",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.ppk",
    "*.keytab",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    # shell and REPL histories (`export OPENAI_API_KEY=...`)
    "*_history",
    ".zhistory",
    ".histfile",
    # plaintext keyrings (keyrings.alt), where byok's own keys may be
    "keyring_pass.cfg",
    "crypted_pass.cfg",
    # credentials files of common tools
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".netrc",
    "_netrc",
    ".pypirc",
    "pip.conf",
    "pip.ini",
    ".pgpass",
    ".my.cnf",
    ".mylogin.cnf",
    ".git-credentials",
    ".dockercfg",
    ".vault-token",
    ".boto",
    ".s3cfg",
    ".passwd-s3fs",
    ".terraformrc",
    "terraform.rc",
    "*.tfrc",
    "credentials.tfrc.json",
    ".databrickscfg",
    ".sentryclirc",
    "rclone.conf",
    "ngrok.yml",
    "settings-security.xml",
    ".claude.json",
    ".credentials.json",
    "oauth_creds.json",
    "credentials",
    "credentials.json",
    "credentials.toml",
    "application_default_credentials.json",
    "client_secret*.json",
    "service-account*.json",
    "service_account*.json",
    "*-service-account*.json",
    "*_service_account*.json",
    "serviceaccountkey*.json",
    "kubeconfig",
    "htpasswd",
    ".htpasswd",
    # infrastructure state and variables, application secrets
    "*.tfvars",
    "*.tfvars.json",
    "*.tfstate",
    "*.tfstate.backup",
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
    "secrets.toml",
)
"""File names (any case) that hold credentials; the list is matched against the last path component."""


@dataclass(frozen=True, slots=True)
class Located:
    """A file that passed the jail: where it is, and the editor's snapshot of it when it is open."""

    uri: str
    path: Path
    """The path as named, normalised (`..` and percent-escapes resolved)."""
    real: Path
    """The path with every symlink resolved: what is read from disk."""
    document: OpenDocument | None
    """The open document (text, version and language read at once); None means the file is read from disk."""
    size: int
    """Bytes: the document's UTF-8 length, or the file's size on disk (0 when it does not exist)."""

    @property
    def text(self) -> str | None:
        """The editor's text of an open document; None means the file is read from disk."""
        return self.document.text if self.document else None


def _refused(field: str | None, message: str, *, cause: str, fix: str) -> ByokError:
    return ByokError(ErrorCode.BAD_REQUEST, f"{field}: {message}" if field else message, cause=cause, fix=fix)


def uri_to_path(uri: str, field: str | None = None) -> Path:
    """The local path of a file: URI (or of an absolute path), normalised: `..` and escapes resolved."""
    parts = urlsplit(uri)
    if parts.scheme not in ("file", ""):
        raise _refused(
            field,
            f"only file: URIs can be read, not {parts.scheme}:",
            cause="Unsupported URI scheme",
            fix="Pass file:// URIs",
        )
    if parts.netloc not in ("", "localhost"):
        raise _refused(
            field,
            f"the URI names another machine ({parts.netloc})",
            cause="Files on other hosts are never read",
            fix="Pass a file:// URI of a local file",
        )
    path = unquote(parts.path)
    if "\x00" in path or not path.startswith("/"):
        raise _refused(
            field,
            "the URI has no usable absolute file path",
            cause="An empty or relative path, or a NUL character, in a file URI",
            fix="Pass a file:// URI of an existing file",
        )
    return Path(os.path.normpath("/" + path.lstrip("/")))


def is_secret_file(path: PurePath) -> bool:
    """Whether the path names a credentials file or lies in a credentials directory (any case)."""
    parts = [part.lower() for part in path.parts]
    if not parts:
        return False
    if SECRET_DIRECTORIES.intersection(parts):
        return True
    for run in SECRET_SUBPATHS:
        if any(tuple(parts[i : i + len(run)]) == run for i in range(len(parts) - len(run) + 1)):
            return True
    return any(fnmatch.fnmatchcase(parts[-1], pattern) for pattern in SECRET_FILE_PATTERNS)


def is_special_path(path: PurePath) -> bool:
    """Whether an absolute, normalised path lies in /proc, /sys or /dev."""
    return any(path.is_relative_to(directory) for directory in SPECIAL_DIRECTORIES)


def _unreadable(field: str, name: str, exc: Unreadable) -> ByokError:
    """The request error for a file the bounded reader refused (`field` names it)."""
    if exc.kind in ("is_dir", "not_regular"):
        return _refused(
            field,
            f"{name} is not a regular file",
            cause="Only regular files can be sent as context (not directories, pipes or devices)",
            fix="Pass a regular file",
        )
    if exc.kind == "hard_link":
        return _refused(field, exc.message, cause="A hard link can lead out of the workspace", fix=_OPEN_IT)
    if exc.kind in ("too_large", "grew"):
        return ByokError(
            ErrorCode.CONTEXT_TOO_LARGE,
            f"{field}: {exc.message}",
            fix="Select the relevant part instead of the whole file",
        )
    return _refused(field, exc.message, cause="The file is not readable", fix="Check the path")


_OPEN_IT = "Open the file in the editor, or copy it into the workspace"


class FileJail:
    """The one rule for the files a feature reads or edits: open documents, or regular files in the workspace."""

    def __init__(self, roots: Iterable[Path], documents: DocumentLookup | None = None) -> None:
        self.real_roots = tuple(Path(os.path.abspath(root)).resolve() for root in roots)
        self.documents = documents

    def locate(self, uri: str, field: str, *, edit: bool = False, missing_ok: bool = False) -> Located:
        """Check `uri` against the jail (`field` names it in refusals); `edit` also refuses hard-linked files."""
        path = uri_to_path(uri, field)
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            raise _refused(
                field,
                f"{path} cannot be resolved",
                cause="A symlink loop or an unreadable path",
                fix=_OPEN_IT,
            ) from None
        for candidate in (path, real):
            if is_special_path(candidate):
                raise _refused(
                    field,
                    f"{path} is a system file",
                    cause="Files under /proc, /sys and /dev are never read",
                    fix="Pass a file from the workspace",
                )
            if is_secret_file(candidate):
                raise _refused(
                    field,
                    f"{path.name} looks like a secrets file and is never sent to a model",
                    cause="Files such as .env, private keys, credentials and .ssh/.aws/.gnupg are excluded",
                    fix="Remove it from the request",
                )
        if edit and (reason := link_refusal(real)):
            raise _refused(field, reason, cause="A hard link can lead out of the workspace", fix=_OPEN_IT)
        document = self.documents(uri) if self.documents else None
        if document is not None:
            return Located(uri, path, real, document, len(document.text.encode("utf-8", "replace")))
        if not self.real_roots:
            raise _refused(
                field,
                f"{path} is not open in the editor, and no workspace folder is open",
                cause="Without a workspace folder only documents open in the editor can be used",
                fix="Open the folder, or open the file in the editor",
            )
        if not any(real.is_relative_to(root) for root in self.real_roots):
            raise _refused(
                field,
                f"{path} is outside the workspace folders",
                cause="Files are read from disk only inside a workspace folder (symlinks followed)",
                fix="Open the file in the editor, or add its folder to the workspace",
            )
        try:
            info = real.stat()
        except FileNotFoundError:
            if missing_ok:
                return Located(uri, path, real, None, 0)
            raise _refused(
                field, f"{path.name} does not exist", cause="No such file", fix="Check the path"
            ) from None
        except OSError as exc:
            raise _refused(
                field,
                f"cannot read {path.name}: {exc.strerror or exc}",
                cause="The file is not readable",
                fix="Check the path",
            ) from None
        try:
            check_file(path.name, info)
        except Unreadable as exc:
            raise _unreadable(field, path.name, exc) from None
        return Located(uri, path, real, None, info.st_size)

    def read(self, located: Located, field: str) -> str:
        """The file's text: the open document's, or from disk (checked again on the opened descriptor)."""
        if located.text is not None:
            return located.text
        try:
            data = read_bounded(located.real, located.path.name)
        except Unreadable as exc:
            raise _unreadable(field, located.path.name, exc) from None
        return data.decode("utf-8", errors="replace")

    def read_context(
        self,
        uris: Sequence[str],
        field: str,
        max_bytes: int,
        *,
        positions: Sequence[int] | None = None,
        also: Sequence[ContextFile] = (),
    ) -> list[ContextFile]:
        """The files of `uris` (`field[i]` in refusals, `i` from `positions` when given), then the context
        read elsewhere (`also`: MCP resources), refused as a whole when over `max_bytes`.

        Sizes are checked before anything is read (disk sizes), and again on the text read.
        """
        indexes = range(len(uris)) if positions is None else positions
        located = [(i, self.locate(uri, f"{field}[{i}]")) for i, uri in zip(indexes, uris, strict=True)]
        elsewhere = [(f.path, len(f.text.encode("utf-8", "replace"))) for f in also]
        check_context_bytes([*elsewhere, *((str(item.path), item.size) for _, item in located)], max_bytes)
        files = [
            ContextFile(item.uri, str(item.path), self.read(item, f"{field}[{i}]")) for i, item in located
        ]
        check_context_bytes(
            [*elsewhere, *((f.path, len(f.text.encode("utf-8", "replace"))) for f in files)], max_bytes
        )
        return [*files, *also]

    def read_for_edit(self, uri: str, field: str, max_bytes: int) -> ContextFile:
        """The one file a feature edits and sends: never a hard-linked one, even when open."""
        located = self.locate(uri, field, edit=True)
        check_context_bytes([(str(located.path), located.size)], max_bytes)
        text = self.read(located, field)
        check_context_bytes([(str(located.path), len(text.encode("utf-8", "replace")))], max_bytes)
        return ContextFile(uri, str(located.path), text, located.document)


_RUNNABLE_DIRS = frozenset(
    # editors' and agents' own folders: MCP servers, hooks and tasks other tools start from them
    {".vscode", ".devcontainer", ".git", ".idea", ".husky", ".cargo", ".cursor", ".claude", ".gemini", ".zed"}
)
_RUNNABLE_FILES = frozenset(
    {
        ".envrc",
        ".mcp.json",
        ".devcontainer.json",
        ".exrc",
        ".nvimrc",
        ".nvim.lua",
        ".dir-locals.el",
        ".pre-commit-config.yaml",
        "rust-toolchain",
        "rust-toolchain.toml",
        ".yarnrc",
        ".yarnrc.yml",
        "lefthook.yml",
        "lefthook.yaml",
        ".lefthook.yml",
        ".lefthook.yaml",
    }
)


def is_runnable_config(path: str) -> bool:
    """Whether editors or tools run commands from this (workspace-relative) file: tasks, hooks, direnv...

    Case-folded: on a case-insensitive disk `.VSCode/tasks.json` is `.vscode/tasks.json`.
    """
    parts = [part.casefold() for part in PurePosixPath(path).parts]
    if not parts:
        return False
    return (
        any(part in _RUNNABLE_DIRS for part in parts)
        or parts[-1] in _RUNNABLE_FILES
        or parts[-1].endswith(".code-workspace")
    )


class Workspace:
    """The workspace root every tool path is resolved in, and the editor's open documents."""

    def __init__(self, root: Path, documents: DocumentLookup | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.real_root = self.root.resolve()
        self.documents = documents

    def resolve(self, path: str) -> Path:
        """The absolute path for a workspace-relative (or absolute, inside) path; refuses everything else."""
        raw = path.strip()
        if raw.startswith("file:"):
            try:
                raw = str(uri_to_path(raw))
            except ByokError as exc:
                raise PathRefused(exc.message) from None
        if not raw or "\x00" in raw:
            raise PathRefused("an empty or invalid path")
        candidate = Path(os.path.normpath(self.root / raw))
        if not candidate.is_relative_to(self.root):
            raise PathRefused(f"{path} is outside the workspace")
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):
            raise PathRefused(f"{path} cannot be resolved (a symlink loop?)") from None
        if not real.is_relative_to(self.real_root):
            raise PathRefused(f"{path} leads outside the workspace through a symlink")
        if is_special_path(candidate) or is_special_path(real):
            raise PathRefused(f"{path} is a system file (/proc, /sys, /dev); it is never read")
        if is_secret_file(candidate) or is_secret_file(real):
            raise PathRefused(f"{path} looks like a secrets file; it is never read or sent")
        return candidate

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def is_runnable(self, path: Path) -> bool:
        """Whether `path` is a file editors or tools run commands from, as named or where symlinks lead."""
        if is_runnable_config(self.relative(path)):
            return True
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return True  # where it leads is unknown: ask
        return not real.is_relative_to(self.real_root) or is_runnable_config(
            real.relative_to(self.real_root).as_posix()
        )

    def open_document(self, path: Path) -> OpenDocument | None:
        return self.documents(path.as_uri()) if self.documents else None
