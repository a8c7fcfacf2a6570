"""The agent's workspace tools, and the workspace jail and in-memory edits Composer shares with them.

Every path is resolved inside the workspace root: `..`, absolute paths elsewhere and symlinks leading out
are refused, and secret-looking files (`.env*`, `*.pem`, keys, `.git/`) are never read, listed or searched.
Edits are kept in memory (`Changes`): later tools see them, and they leave the server only as one LSP
WorkspaceEdit (`documentChanges`) for the editor to apply.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import re
import signal
import stat
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path, PurePosixPath
from typing import Any

from byok.base.errors import ByokError
from byok.base.redaction import redact
from byok.base.text import utf16_len
from byok.builtin.apply import apply_snippet
from byok.providers import PRESETS
from byok.providers.base import ToolCall, ToolSpec
from byok.workspace.jail import (
    MAX_FILE_BYTES,
    hard_link_reason,
    is_secret_file,
    is_special_path,
    link_refusal,
    uri_to_path,
)

MAX_TOOL_OUTPUT = 40_000
"""Characters of one tool result sent back to the model."""
MAX_COMMAND_OUTPUT = 16_000
"""Bytes of a command's output kept: the first quarter and the last three quarters."""
MAX_LISTED = 500
MAX_MATCHES = 100
MAX_WALKED = 50_000
GIT_TIMEOUT_S = 10.0
WALK_TIME_LIMIT_S = 10.0
"""A listing outside git (pathspec's .gitignore matching) running longer is stopped: a tool error."""
MAX_GITIGNORE_BYTES = 1024 * 1024
"""Bytes of one .gitignore read; the rest is not used."""
MAX_QUERY_CHARS = 1000
"""Characters of a search query; a longer one is a tool error."""
SEARCH_TIME_LIMIT_S = 2.0
"""A search (its regular expression) running longer is stopped and answered with a tool error."""
MAX_SEARCH_BYTES = 32 * 1024 * 1024
"""Text one search looks through; files beyond it are left out and the result says so."""
MAX_CONSENT_CHARS = 4000
"""Characters of a run-able file's new text shown when asking to change it."""
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
COMMAND_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR"}
)
"""Variables a command inherits from the server (plus `LC_*` and what `agent.commandEnv` names); nothing else."""


class ToolError(Exception):
    """A tool call that cannot be carried out; the message goes back to the model (or the user)."""


class PathRefused(ToolError):
    """A path outside the workspace, through a symlink leading out, or to a secret-looking file."""


@dataclass(frozen=True, slots=True)
class OpenDocument:
    """The editor's current state of an open document."""

    text: str
    version: int | None
    language_id: str | None = None


DocumentLookup = Callable[[str], OpenDocument | None]
"""Returns the open document for a URI, or None when it is not open."""

EditApplier = Callable[[dict[str, Any]], Awaitable[bool]]
"""Sends a WorkspaceEdit to the editor; True when the editor applied it."""

PermissionAsker = Callable[[str], Awaitable[bool | None]]
"""Asks the user the question: True allows, False denies, None means the client cannot ask (headless)."""


# -- positions and edits ------------------------------------------------------------------------------


def lsp_lines(text: str) -> list[str]:
    """The lines of `text` as LSP counts them (`\\n`, `\\r\\n` or `\\r` ends one), terminators kept."""
    return _LINE.findall(text)


def _end_position(lines: list[str]) -> dict[str, int]:
    if not lines or lines[-1].endswith(("\n", "\r")):
        return {"line": len(lines), "character": 0}
    return {"line": len(lines) - 1, "character": utf16_len(lines[-1])}


def text_edits(before: str, after: str) -> list[dict[str, Any]]:
    """Minimal line-level LSP TextEdits turning `before` into `after` (UTF-16 positions)."""
    old, new = lsp_lines(before), lsp_lines(after)
    end = _end_position(old)

    def position(index: int) -> dict[str, int]:
        return {"line": index, "character": 0} if index < len(old) else end

    return [
        {"range": {"start": position(i1), "end": position(i2)}, "newText": "".join(new[j1:j2])}
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
        if tag != "equal"
    ]


def document_changes(
    uri: str, before: str | None, after: str | None, version: int | None
) -> list[dict[str, Any]]:
    """The `documentChanges` entries turning one file from `before` into `after` (None: no such file)."""
    if before == after:
        return []
    if after is None:
        return [{"kind": "delete", "uri": uri, "options": {"ignoreIfNotExists": True}}]
    changes: list[dict[str, Any]] = []
    if before is None:
        changes.append(
            {"kind": "create", "uri": uri, "options": {"overwrite": False, "ignoreIfExists": False}}
        )
        before, version = "", None
    edits = text_edits(before, after)
    if edits:
        changes.append({"textDocument": {"uri": uri, "version": version}, "edits": edits})
    return changes


# -- the workspace jail ---------------------------------------------------------------------------------


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


@dataclass(slots=True)
class FileState:
    """One file the session touched: as it was, as the editor has it now, and as the session made it."""

    path: Path
    uri: str
    original: str | None
    version: int | None
    base: str | None
    text: str | None
    applied: bool = False
    """Some of this session's changes were already applied, so the open document's version is unknown."""


class Changes:
    """Edits kept in memory until they are sent as one WorkspaceEdit; reads see them."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.files: dict[Path, FileState] = {}

    def state(self, path: Path) -> FileState:
        state = self.files.get(path)
        if state is None:
            document = self.workspace.open_document(path)
            text, version = (document.text, document.version) if document else (read_disk(path), None)
            state = self.files[path] = FileState(path, path.as_uri(), text, version, text, text)
        return state

    def read(self, path: Path) -> str | None:
        """The file's current text in this session; None when it does not exist."""
        return self.state(path).text

    def peek(self, path: Path) -> str | None:
        """Like `read`, without remembering the file (for searches over many files)."""
        state = self.files.get(path)
        if state is not None:
            return state.text
        document = self.workspace.open_document(path)
        return document.text if document else read_disk(path)

    def write(self, path: Path, text: str | None) -> None:
        """Set the file's new text (None deletes it); never of a file with several hard links, even if open."""
        if reason := link_refusal(path):
            raise ToolError(reason)
        self.state(path).text = text

    def pending(self) -> bool:
        return any(s.text != s.base for s in self.files.values())

    def edit(self, *, since_start: bool = False) -> dict[str, Any]:
        """The WorkspaceEdit of the changes not applied yet (or of all changes, `since_start`)."""
        changes: list[dict[str, Any]] = []
        for state in sorted(self.files.values(), key=lambda s: s.path):
            if since_start:
                changes += document_changes(state.uri, state.original, state.text, state.version)
            else:
                version = None if state.applied else state.version
                changes += document_changes(state.uri, state.base, state.text, version)
        return {"documentChanges": changes}

    def mark_applied(self) -> None:
        for state in self.files.values():
            if state.text != state.base:
                state.base, state.applied = state.text, True

    def summary(self) -> list[dict[str, Any]]:
        """Per changed file since the start: its URI, path, action and number of hunks."""
        out: list[dict[str, Any]] = []
        for state in sorted(self.files.values(), key=lambda s: s.path):
            if state.original == state.text:
                continue
            if state.text is None:
                action, hunks = "delete", 0
            else:
                action = "create" if state.original is None else "modify"
                hunks = len(text_edits(state.original or "", state.text))
            out.append(
                {
                    "uri": state.uri,
                    "path": self.workspace.relative(state.path),
                    "action": action,
                    "hunks": hunks,
                }
            )
        return out


# -- listing files, honouring .gitignore -------------------------------------------------------------------


_WALK_WORKER = """
import marshal, os, sys
from pathspec import GitIgnoreSpec

root, under, limit, max_ignore_bytes = marshal.load(sys.stdin.buffer)
found = []


def relative_of(path):
    return os.path.relpath(path, root).replace(os.sep, "/")


def rules_for(directory, inherited):
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.isfile(ignore):
        return inherited
    with open(ignore, "rb") as handle:
        text = handle.read(max_ignore_bytes).decode("utf-8", "replace")
    base = relative_of(directory)
    return [*inherited, ("" if base == "." else base, GitIgnoreSpec.from_lines(text.splitlines()))]


def is_ignored(rules, relative, is_dir):
    ignored, candidate = False, relative + "/" if is_dir else relative
    for base, spec in rules:
        if base and not candidate.startswith(base + "/"):
            continue
        verdict = spec.check_file(candidate[len(base) + 1 :] if base else candidate).include
        if verdict is not None:
            ignored = verdict
    return ignored


def visit(directory, inherited):
    rules = rules_for(directory, inherited)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if len(found) >= limit:
            return
        if entry.name == ".git":
            continue
        relative, is_dir = relative_of(entry.path), entry.is_dir(follow_symlinks=False)
        if is_ignored(rules, relative, is_dir):
            continue
        if is_dir:
            visit(entry.path, rules)
        else:
            found.append(relative)


rules, parts = [], [p for p in relative_of(under).split("/") if p != "."]
for depth in range(len(parts)):
    rules = rules_for(os.path.join(root, *parts[:depth]), rules)
visit(under, rules)
marshal.dump(found, sys.stdout.buffer)
"""
"""Lists files below `under` as git would, per .gitignore (the last matching pattern wins, deeper files last).
pathspec's patterns are regular expressions that can backtrack for minutes, so this runs in a worker."""


async def walk_files(root: Path, under: Path) -> list[str]:
    """Files below `under` (workspace-relative paths), skipping `.git` and what the .gitignore files ignore.

    Runs in a worker process killed after WALK_TIME_LIMIT_S: a hostile .gitignore cannot freeze the server.
    """
    found: list[str] = await run_worker(
        _WALK_WORKER,
        (str(root), str(under), MAX_WALKED, MAX_GITIGNORE_BYTES),
        WALK_TIME_LIMIT_S,
        what="listing the files",
        overtime=f"listing the files took longer than {WALK_TIME_LIMIT_S:g} s and was stopped "
        "(a .gitignore pattern that backtracks?); list a smaller path",
        packages=True,
    )
    return found


_GIT_OVERRIDES = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
)
"""Command-line config wins over the repository's own (and its `include.path`): nothing it names is run."""


def git_env() -> dict[str, str]:
    """An environment in which git reads no system or global config and takes no GIT_* from outside."""
    return {
        **command_env(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
    }


async def git_files(root: Path, under: Path) -> list[str] | None:
    """`git ls-files` (tracked and untracked, not ignored) below `under`; None when not a git work tree.

    A workspace's .git/config is untrusted: git runs with fsmonitor and hooks off and a clean environment.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            *_GIT_OVERRIDES,
            "-C",
            str(root),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            under.relative_to(root).as_posix(),
            env=git_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    if process.returncode != 0:
        return None
    return sorted(dict.fromkeys(p for p in output.decode("utf-8", "replace").split("\0") if p))


# -- running commands ---------------------------------------------------------------------------------------


class _BoundedOutput:
    """Keeps the head and the tail of a stream of bytes, and counts what it drops."""

    def __init__(self, limit: int) -> None:
        self.head_limit, self.tail_limit = limit // 4, limit - limit // 4
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        self.head += data[:room]
        self.tail += data[max(room, 0) :]
        if len(self.tail) > self.tail_limit:
            self.dropped += len(self.tail) - self.tail_limit
            del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes of output omitted ...]\n" if self.dropped else ""
        return self.head.decode("utf-8", "replace") + gap + self.tail.decode("utf-8", "replace")


_PRESET_KEY_VARIABLES = frozenset(name for preset in PRESETS.values() for name in preset.env_vars)
_CREDENTIAL_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "APIKEY", "ACCESS_KEY")


def is_credential_variable(name: str, value: str) -> bool:
    """Whether a variable looks like it holds a key: a provider preset's key variable, a credential-like
    name (`*_KEY`, TOKEN, SECRET, PASSWORD, CREDENTIAL: AWS's too), or a value that is a key we know."""
    upper = name.upper()
    return (
        upper in _PRESET_KEY_VARIABLES
        or upper.endswith("_KEY")
        or any(word in upper for word in _CREDENTIAL_WORDS)
        or redact(value) != value
    )


def command_env(names: Iterable[str] = ()) -> dict[str, str]:
    """The allow-listed part of the server's environment, plus the variables the user `names`; never a
    variable that looks like a credential, whoever names it (`agent.commandEnv` can come from a workspace)."""
    allowed = COMMAND_ENV_NAMES | set(names)
    return {
        name: value
        for name, value in os.environ.items()
        if (name in allowed or name.startswith("LC_")) and not is_credential_variable(name, value)
    }


# -- showing what would run ----------------------------------------------------------------------------------

_HIDING_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn", "Cs"})
"""Controls, format characters (bidi overrides, zero-width), odd spaces, separators, unassigned code points."""
_MARKERS = frozenset("⟨⟩")
_RUN = re.compile(r"(.)\1*", re.DOTALL)
_OPERATORS = (
    ("newline", re.compile(r"[\n\r]")),
    (";", re.compile(";")),
    ("&&", re.compile("&&")),
    ("||", re.compile(r"\|\|")),
    ("|", re.compile(r"(?<!\|)\|(?!\|)")),
    ("&", re.compile("(?<!&)&(?!&)")),
    ("`", re.compile("`")),
    ("$(", re.compile(r"\$\(")),
    (">", re.compile(">")),
    ("<", re.compile("<")),
)


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_BLANK_LOOKING = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
    + "".join(map(chr, [*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))
)
"""Letters and marks that render as nothing or as blank: Hangul fillers, the braille blank, Khmer inherent
vowels, the combining grapheme joiner and variation selectors."""


def visible(text: str) -> str:
    """`text` with nothing hidden: controls and bidi/invisible/blank characters escaped, long runs counted."""
    out: list[str] = []
    for match in _RUN.finditer(text):
        run = match.group()
        char, count = run[0], len(run)
        if char == " ":
            out.append(f"⟨{count} spaces⟩" if count >= 3 else run)
        elif char in _MARKERS or char in _BLANK_LOOKING or unicodedata.category(char) in _HIDING_CATEGORIES:
            shown = _escape(char)
            out.append(f"⟨{shown} repeated {count} times⟩" if count >= 3 else shown * count)
        else:
            out.append(run)
    return "".join(out)


def display_command(command: str) -> str:
    """A command as a person must see it before allowing it: all of it, visibly, with a warning for operators."""
    shown = visible(command)
    operators = [name for name, pattern in _OPERATORS if pattern.search(command)]
    if operators:
        shown += (
            "\n⚠ This runs more than one command, pipes, redirects or substitutes output "
            f"(found: {' '.join(operators)})."
        )
    return shown


_RUNNABLE_DIRS = frozenset({".vscode", ".devcontainer", ".git", ".idea", ".husky", ".cargo"})
_RUNNABLE_FILES = frozenset(
    {
        ".envrc",
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


def _shown_change(before: str | None, after: str | None) -> str:
    if after is None:
        return "(the file is deleted)"
    added = "".join(edit["newText"] for edit in text_edits(before or "", after))
    lines = "\n".join(visible(line) for line in added.splitlines())
    if len(lines) > MAX_CONSENT_CHARS:
        lines = lines[:MAX_CONSENT_CHARS] + f"\n[... {len(lines) - MAX_CONSENT_CHARS} more characters]"
    return lines


def runnable_edit_question(who: str, relative: str, before: str | None, after: str | None) -> str:
    return (
        f"{who} wants to change {visible(relative)}, a file your editor or tools run commands from. "
        f"New or changed lines:\n{_shown_change(before, after)}"
    )


async def confirm_runnable_edits(
    changes: Changes, ask: PermissionAsker | None, *, allow_headless: bool, who: str
) -> list[dict[str, str]]:
    """Ask before each pending change to a run-able file; refused changes are undone and returned."""
    refused: list[dict[str, str]] = []
    for state in list(changes.files.values()):
        if state.text == state.base or not changes.workspace.is_runnable(state.path):
            continue
        relative = changes.workspace.relative(state.path)
        if not await consent(
            ask, runnable_edit_question(who, relative, state.base, state.text), allow_headless
        ):
            state.text = state.base
            refused.append(
                {"path": relative, "reason": "the user did not allow changing a file that runs commands"}
            )
    return refused


async def consent(ask: PermissionAsker | None, question: str, allow_headless: bool) -> bool:
    """The user's answer; only a client that cannot ask falls back to `allow_headless` (agent.allowCommands)."""
    answer = await ask(question) if ask is not None else None
    return allow_headless if answer is None else answer


# -- searching off the event loop ------------------------------------------------------------------------------

_SEARCH_WORKER = """
import marshal, re, sys
pattern, flags, limit, files = marshal.load(sys.stdin.buffer)
try:
    compiled = re.compile(pattern, flags)
except (re.error, OverflowError) as exc:
    marshal.dump(("invalid", str(exc)), sys.stdout.buffer)
    sys.exit()
except RecursionError:
    marshal.dump(("invalid", "it is nested too deeply"), sys.stdout.buffer)
    sys.exit()
found = []
for relative, text in files:
    for number, line in enumerate(text.splitlines(), 1):
        if compiled.search(line):
            found.append((relative, number, line.strip()[:1000]))
            if len(found) >= limit:
                break
    if len(found) >= limit:
        break
marshal.dump(("found", found), sys.stdout.buffer)
"""


async def run_worker(
    source: str, payload: Any, time_limit_s: float, *, what: str, overtime: str, packages: bool = False
) -> Any:
    """What the Python `source` writes (marshal) for `payload` (marshal, on its stdin), run in an isolated
    worker process killed after `time_limit_s` (ToolError `overtime`) or on cancel; it failing is `what` failed. `packages`: the
    worker may import installed packages (a slower start)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *(("-I",) if packages else ("-I", "-S")),
        "-c",
        source,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={},
    )
    try:
        async with asyncio.timeout(time_limit_s):
            output, _ = await process.communicate(marshal.dumps(payload))
    except TimeoutError:
        raise ToolError(overtime) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise ToolError(f"{what} failed")
    return marshal.loads(output)


async def search_texts(
    pattern: str, flags: int, files: list[tuple[str, str]], limit: int
) -> list[tuple[str, int, str]]:
    """Lines matching `pattern`, found by a worker process that compiles it and is killed after
    SEARCH_TIME_LIMIT_S or on cancel; an invalid pattern is a ToolError."""
    outcome, answer = await run_worker(
        _SEARCH_WORKER,
        (pattern, int(flags), limit, files),
        SEARCH_TIME_LIMIT_S,
        what="the search",
        overtime=f"the search took longer than {SEARCH_TIME_LIMIT_S:g} s and was stopped (a regular "
        "expression that backtracks, such as (a+)+$?); simplify the pattern or search a smaller path",
    )
    if outcome == "invalid":
        raise ToolError(f"invalid regular expression: {answer}")
    found: list[tuple[str, int, str]] = answer
    return found


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return


async def run_command(
    command: str, cwd: Path, timeout_s: float, env: dict[str, str] | None = None
) -> tuple[int | None, str]:
    """Run `command` with /bin/sh in its own process group; (exit code or None on timeout, bounded output)."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        env=command_env() if env is None else env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output = _BoundedOutput(MAX_COMMAND_OUTPUT)
    timed_out = False
    try:
        async with asyncio.timeout(timeout_s):
            assert process.stdout is not None
            while chunk := await process.stdout.read(65536):
                output.add(chunk)
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        _kill_group(process.pid)  # on timeout, cancellation, and stragglers left in the background
        await process.wait()
    return (None if timed_out else process.returncode), redact(output.text())


# -- the tools ---------------------------------------------------------------------------------------------

_PATH = {"type": "string", "description": "Path relative to the workspace root"}
TOOL_SPECS = [
    ToolSpec(
        "read_file",
        "Read a text file of the workspace (with this session's edits). Optionally only lines "
        "start_line..end_line (1-based, inclusive).",
        {
            "type": "object",
            "properties": {"path": _PATH, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}},
            "required": ["path"],
        },
    ),
    ToolSpec(
        "list_files",
        "List the files below a directory of the workspace (recursively, .gitignore respected).",
        {"type": "object", "properties": {"path": {**_PATH, "description": "Directory; default the root"}}},
    ),
    ToolSpec(
        "search",
        "Search the workspace's files for text (or a Python regular expression); returns path:line: text.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "regex": {"type": "boolean", "description": "Treat query as a regular expression"},
                "ignore_case": {"type": "boolean"},
                "path": {**_PATH, "description": "Directory or file to search; default the root"},
            },
            "required": ["query"],
        },
    ),
    ToolSpec(
        "edit_file",
        "Change an existing file. `code` holds the changed parts with enough unchanged lines around "
        "them to locate them; mark unchanged code you leave out with a comment such as "
        "`# ... existing code ...` or `// ... existing code ...`. Or give the whole new file.",
        {
            "type": "object",
            "properties": {"path": _PATH, "code": {"type": "string"}},
            "required": ["path", "code"],
        },
    ),
    ToolSpec(
        "create_file",
        "Create a new file with the given content (fails if it exists; use edit_file then).",
        {
            "type": "object",
            "properties": {"path": _PATH, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
    ToolSpec(
        "run_command",
        "Run a shell command in the workspace after the user allows it. It sees the files on disk: "
        "edits made in this session are not saved yet.",
        {
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "cwd": {**_PATH, "description": "Working directory; default the root"},
            },
            "required": ["command"],
        },
    ),
]


@dataclass(slots=True)
class ToolResult:
    content: str
    is_error: bool = False


def _text_arg(arguments: dict[str, Any], name: str, default: str | None = None) -> str:
    value = arguments.get(name, default)
    if not isinstance(value, str):
        raise ToolError(
            f"argument {name!r} must be a string" if name in arguments else f"{name!r} is required"
        )
    return value


def _int_arg(arguments: dict[str, Any], name: str) -> int | None:
    value = arguments.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"argument {name!r} must be an integer")
    return int(value)


def _clip(text: str, hint: str) -> str:
    if len(text) <= MAX_TOOL_OUTPUT:
        return text
    return text[:MAX_TOOL_OUTPUT] + f"\n[... truncated at {MAX_TOOL_OUTPUT} characters; {hint} ...]"


def _quote(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_calls(calls: list[ToolCall]) -> str:
    """A status line for one step's tool calls, e.g. "reading src/app.py; editing 2 files"."""
    groups: dict[str, list[str]] = {}
    for call in calls:
        args = call.arguments
        subject = str(args.get("path") or args.get("query") or args.get("command") or "")
        groups.setdefault(call.name, []).append(subject)
    parts = []
    for name, subjects in groups.items():
        unique = list(dict.fromkeys(subjects))
        if name == "read_file":
            parts.append("reading " + (", ".join(unique) if len(unique) <= 2 else f"{len(unique)} files"))
        elif name in ("edit_file", "create_file"):
            verb = "editing" if name == "edit_file" else "creating"
            parts.append(f"{verb} " + (unique[0] if len(unique) == 1 else f"{len(unique)} files"))
        elif name == "list_files":
            parts.append("listing " + (", ".join(s or "." for s in unique)))
        elif name == "search":
            parts.append("searching for " + ", ".join(repr(_quote(s)) for s in unique))
        elif name == "run_command":
            parts.append("running " + ", ".join(f"`{_quote(visible(s))}`" for s in unique))
        else:
            parts.append(f"calling {name}")
    return "; ".join(parts)


class Tools:
    """The agent's tools over one workspace and one session's in-memory changes."""

    def __init__(
        self,
        changes: Changes,
        *,
        ask: PermissionAsker | None,
        allow_commands: bool,
        command_timeout_s: float,
        command_env: Iterable[str] = (),
    ) -> None:
        self.changes = changes
        self.workspace = changes.workspace
        self.ask = ask
        self.allow_commands = allow_commands
        """Headless only: what a client that cannot ask the user gets (run_command, run-able files)."""
        self.command_timeout_s = command_timeout_s
        self.command_env = tuple(command_env)
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[ToolResult]]] = {
            "read_file": self.read_file,
            "list_files": self.list_files,
            "search": self.search,
            "edit_file": self.edit_file,
            "create_file": self.create_file,
            "run_command": self.run_command,
        }

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call; every failure becomes an error result for the model."""
        if "_error" in call.arguments:
            return ToolResult(
                f"Error: the arguments of {call.name} were not usable ({call.arguments['_error']}). "
                "Call the tool again with a JSON object matching its schema.",
                is_error=True,
            )
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolResult(f"Error: there is no tool named {call.name!r}.", is_error=True)
        try:
            return await handler(call.arguments)
        except ToolError as exc:
            return ToolResult(f"Error: {exc}", is_error=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return ToolResult(f"Error: {call.name} failed: {reason}", is_error=True)

    async def read_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        text = self.changes.read(path)
        if text is None:
            raise ToolError(f"{self.workspace.relative(path)} does not exist")
        start, end = _int_arg(arguments, "start_line"), _int_arg(arguments, "end_line")
        if start is not None or end is not None:
            lines = lsp_lines(text)
            text = "".join(lines[max((start or 1) - 1, 0) : end if end is not None else len(lines)])
        return ToolResult(_clip(text, "read the rest with start_line/end_line"))

    async def files(self, under: Path) -> list[str]:
        """Workspace-relative files below `under`: git's view (or .gitignore-filtered), with this session's changes."""
        listed = await git_files(self.workspace.root, under)
        if listed is None:
            listed = await walk_files(self.workspace.root, under)
        found = dict.fromkeys(p for p in listed if not is_secret_file(PurePosixPath(p)))
        for state in self.changes.files.values():
            relative = self.workspace.relative(state.path)
            if not state.path.is_relative_to(under):
                continue
            if state.text is None:
                found.pop(relative, None)
            else:
                found[relative] = None
        return sorted(p for p in found if self._inside(p))

    def _inside(self, relative: str) -> bool:
        try:
            path = self.workspace.resolve(relative)
        except PathRefused:
            return False
        return path in self.changes.files or path.is_file()

    async def list_files(self, arguments: dict[str, Any]) -> ToolResult:
        under = self.workspace.resolve(_text_arg(arguments, "path", "."))
        if not under.is_dir():
            raise ToolError(f"{self.workspace.relative(under)} is not a directory")
        files = await self.files(under)
        shown = files[:MAX_LISTED]
        more = f"\n[... and {len(files) - len(shown)} more]" if len(files) > len(shown) else ""
        return ToolResult("\n".join(shown) + more if files else "(no files)")

    async def search(self, arguments: dict[str, Any]) -> ToolResult:
        query = _text_arg(arguments, "query")
        if not query:
            raise ToolError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(
                f"the query is longer than {MAX_QUERY_CHARS} characters; search for a shorter one"
            )
        flags = re.IGNORECASE if arguments.get("ignore_case") else 0
        pattern = query if arguments.get("regex") else re.escape(query)
        under = self.workspace.resolve(_text_arg(arguments, "path", "."))
        files = await self.files(under) if under.is_dir() else [self.workspace.relative(under)]
        texts, left_out = await asyncio.to_thread(self._texts, files)
        found = await search_texts(pattern, flags, texts, MAX_MATCHES)
        matches = [f"{relative}:{number}: {_quote(line, 200)}" for relative, number, line in found]
        if len(matches) >= MAX_MATCHES:
            matches.append(f"[stopped at {MAX_MATCHES} matches]")
        elif left_out:
            matches.append(
                f"[{left_out} files not searched: over {MAX_SEARCH_BYTES // 2**20} MB; narrow the path]"
            )
        return ToolResult("\n".join(matches) if matches else "(no matches)")

    def _texts(self, files: list[str]) -> tuple[list[tuple[str, str]], int]:
        """The readable files' texts up to MAX_SEARCH_BYTES, and how many files that left out."""
        texts: list[tuple[str, str]] = []
        size = 0
        for index, relative in enumerate(files):
            try:
                text = self.changes.peek(self.workspace.resolve(relative))
            except ToolError:
                continue
            if text is None:
                continue
            size += len(text)
            if size > MAX_SEARCH_BYTES:
                return texts, len(files) - index
            texts.append((relative, text))
        return texts, 0

    async def _write(self, path: Path, text: str | None) -> ToolResult | None:
        """Keep an edit in memory, after the user allowed it when the file is one editors or tools run."""
        relative = self.workspace.relative(path)
        if self.workspace.is_runnable(path):
            question = runnable_edit_question("byok agent", relative, self.changes.read(path), text)
            if not await consent(self.ask, question, self.allow_commands):
                return ToolResult(
                    f"The user did not allow changing {relative}: editors or tools run commands from it.",
                    is_error=True,
                )
        self.changes.write(path, text)
        return None

    async def edit_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        code = _text_arg(arguments, "code")
        relative = self.workspace.relative(path)
        original = self.changes.read(path)
        if original is None:
            raise ToolError(f"{relative} does not exist; use create_file")
        result = apply_snippet(original, code, path=relative)
        left_out = "; ".join(result.unresolved)
        if not result.edits:
            if result.unresolved:
                raise ToolError(
                    f"could not place the code in {relative} (left out: {left_out}); "
                    "include more unchanged lines around each change"
                )
            return ToolResult(f"{relative} is unchanged: the code matches the file")
        if refusal := await self._write(path, result.new_text):
            return refusal
        message = f"Edited {relative}: {result.hunks} hunk(s)."
        if result.unresolved:
            message += f" These parts could not be placed and were left out: {left_out}"
        return ToolResult(message)

    async def create_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        content = _text_arg(arguments, "content")
        relative = self.workspace.relative(path)
        if path.is_dir():
            raise ToolError(f"{relative} is a directory")
        if self.changes.read(path) is not None:
            raise ToolError(f"{relative} already exists; use edit_file")
        if refusal := await self._write(path, content):
            return refusal
        return ToolResult(f"Created {relative} ({len(lsp_lines(content))} lines).")

    def _env_note(self, env: dict[str, str]) -> str:
        """What the question says about the variables `agent.commandEnv` adds, and those it withholds."""
        named = [name for name in dict.fromkeys(self.command_env) if name in os.environ]
        given = [name for name in named if name in env]
        withheld = [name for name in named if name not in env]
        note = f"\nIt also gets these variables (agent.commandEnv): {', '.join(given)}." if given else ""
        if withheld:
            note += f"\nWithheld, as they look like credentials: {', '.join(withheld)}."
        return note

    async def run_command(self, arguments: dict[str, Any]) -> ToolResult:
        command = _text_arg(arguments, "command").strip()
        if not command:
            raise ToolError("the command is empty")
        cwd = self.workspace.resolve(_text_arg(arguments, "cwd", "."))
        if not cwd.is_dir():
            raise ToolError(f"{self.workspace.relative(cwd)} is not a directory")
        env = command_env(self.command_env)
        question = (
            f"byok agent wants to run a command in {visible(self.workspace.relative(cwd))}:\n"
            f"{display_command(command)}{self._env_note(env)}"
        )
        if not await consent(self.ask, question, self.allow_commands):
            return ToolResult("The user did not allow running this command.", is_error=True)
        code, output = await run_command(command, cwd, self.command_timeout_s, env)
        head = (
            f"timed out after {self.command_timeout_s:g} s; the process group was killed"
            if code is None
            else f"exit code {code}"
        )
        note = "\n(Edits made in this session are not on disk yet; the command did not see them.)"
        return ToolResult(
            _clip(f"$ {command}\n{head}\n{output}", "output truncated")
            + (note if self.changes.pending() else ""),
            is_error=code is None,
        )
