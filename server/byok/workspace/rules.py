"""Project rules: the instruction files AI coding tools read, found in a stable order, read through the file
jail, bounded by `rules.maxBytes`, and rendered as the "Project rules" section that starts every system prompt.

Rules files are only text for the model: nothing in them starts a process, changes a setting or names a key's
destination. A file is checked by the jail and read again only when it, its name or where the name leads changed
(one `lstat` and one `stat` per file per request). When every file is unchanged and the folders answered quickly
last time, the rules are gathered without a worker thread (`collect_unchanged`).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from byok.base.config import RulesSettings
from byok.base.errors import ByokError
from byok.workspace.ignore import git_files
from byok.workspace.jail import FileJail
from byok.workspace.rule_syntax import always, glob_matches, parse_front_matter

_CONFIG_DIR_RULES = frozenset({".md", ".mdc", ".txt"})
"""What `rules.extraFiles` may name in byok's config dir (a workspace setting may name them)."""

USER_RULES = "rules.md"
"""The user's own rules for every workspace, in byok's config dir."""
MAX_FOLDER_FILES = 100
"""Files read from one rules folder (`.clinerules/`, `.cursor/rules/`, `.github/instructions/`)."""
MAX_WALKED_DIRECTORIES = 20_000
"""Folders looked through for nested AGENTS.md files outside git."""
SKIPPED_DIRECTORIES = frozenset(
    {"node_modules", "__pycache__", "site-packages", "venv", "env", "dist", "build", "target", "vendor"}
)
ROOT_FILES = (
    ("AGENTS.md", "agents"),
    ("CLAUDE.md", "claude"),
    (".github/copilot-instructions.md", "copilot"),
    (".cursorrules", "cursorrules"),
    (".windsurfrules", "windsurf"),
)
"""Files read at a workspace root, in the order they appear in the prompt."""
QUICK_S = 0.002
"""A collect of the same folders that took longer than this (a slow or network disk) is not run on the loop."""
AppliesTo = Literal["always", "on request"] | tuple[str, ...]
"""`always`; `on request` (listed by name for the agent to read); or globs matched on the files in context."""


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One rules file: where it is, what kind, when it applies, and its text (front matter removed)."""

    path: str
    """As status shows it: workspace-relative (prefixed by the folder's name in a multi-root workspace),
    or absolute for files in byok's config dir."""
    title: str
    """As the prompt names it (never an absolute path)."""
    kind: str
    applies_to: AppliesTo
    text: str
    root: Path | None = None
    description: str | None = None

    @property
    def bytes(self) -> int:
        return len(self.text.encode("utf-8"))

    def applies(self, context: Iterable[tuple[Path, str]]) -> bool:
        """Whether a conditional rule matches one of the files in context (root, workspace-relative path)."""
        return isinstance(self.applies_to, tuple) and any(
            root == self.root and glob_matches(list(self.applies_to), relative) for root, relative in context
        )

    def scope(self) -> str:
        if self.applies_to == "always":
            return ""
        if self.applies_to == "on request":
            return self.description or "no description"
        return "for files matching " + ", ".join(self.applies_to)


@dataclass(frozen=True, slots=True)
class Refusal:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SentRule:
    rule: RuleFile
    text: str
    """What the prompt carries: the whole text, or its first part when `rules.maxBytes` was reached."""

    @property
    def truncated(self) -> bool:
        return self.text != self.rule.text


@dataclass(slots=True)
class Rules:
    """The rules of one request: sent in the prompt, left out over the limit, listed for the agent, refused."""

    max_bytes: int
    sent: list[SentRule] = field(default_factory=list)
    omitted: list[RuleFile] = field(default_factory=list)
    listed: list[RuleFile] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return bool(self.omitted) or any(item.truncated for item in self.sent)

    def section(self) -> str:
        """The "Project rules" section: empty when no rule applies."""
        if not self.sent and not self.listed:
            return ""
        parts = [
            "# Project rules\n\nThe user's own rules and this project's rules files. Follow them where they "
            "apply, unless the user's request says otherwise."
        ]
        for item in self.sent:
            scope = item.rule.scope()
            parts.append(f"## {item.rule.title}{f' ({scope})' if scope else ''}\n\n{item.text.strip()}")
        if self.listed:
            lines = "\n".join(f"- {rule.title}: {rule.scope()}" for rule in self.listed)
            parts.append(
                "## More rules\n\nThese rules apply to some files or tasks only. Read the ones that concern "
                f"your task with read_file before you change files they cover:\n{lines}"
            )
        if self.truncated:
            cut = [item.rule.title for item in self.sent if item.truncated]
            parts.append(
                f"[The project rules are longer than rules.maxBytes ({self.max_bytes} bytes)"
                + (f"; cut: {', '.join(cut)}" if cut else "")
                + (f"; left out: {', '.join(rule.title for rule in self.omitted)}" if self.omitted else "")
                + ".]"
            )
        return "\n\n".join(parts)

    def before(self, system_prompt: str) -> str:
        """`system_prompt` with the rules section at its start (the stable part first, for prompt caching)."""
        section = self.section()
        return f"{section}\n\n---\n\n{system_prompt}" if section else system_prompt

    def status(self, settings: RulesSettings) -> dict[str, Any]:
        """What `byok.status` and `byok rules` show: every rules file in force, with its bytes and scope."""
        sent = [
            {**_file_status(item.rule), **({"truncated": True} if item.truncated else {})}
            for item in self.sent
        ]
        omitted = [{**_file_status(rule), "truncated": True, "omitted": True} for rule in self.omitted]
        return {
            "enabled": settings.enabled,
            "maxBytes": self.max_bytes,
            "bytes": sum(len(item.text.encode("utf-8")) for item in self.sent),
            "truncated": self.truncated,
            "files": [*sent, *omitted, *(_file_status(rule) for rule in self.listed)],
            "refused": [{"path": refusal.path, "reason": refusal.reason} for refusal in self.refused],
        }


def _file_status(rule: RuleFile) -> dict[str, Any]:
    applies = list(rule.applies_to) if isinstance(rule.applies_to, tuple) else rule.applies_to
    status: dict[str, Any] = {"path": rule.path, "kind": rule.kind, "bytes": rule.bytes, "appliesTo": applies}
    if rule.description:
        status["description"] = rule.description
    return status


def _cut(text: str, budget: int) -> str:
    """The start of `text` within `budget` UTF-8 bytes, ending at a line end when one is near."""
    head = text.encode("utf-8")[:budget].decode("utf-8", "ignore")
    line_end = head.rfind("\n")
    return head[: line_end + 1] if line_end >= len(head) // 2 else head


class RulesReader:
    """Finds and reads rules files; keeps each file's text until its size, mtime or inode changes."""

    def __init__(self) -> None:
        self._texts: dict[tuple[Path, tuple[Path, ...]], tuple[_Identity, str]] = {}
        self._lock = threading.Lock()
        self._reported: set[Refusal] = set()
        self._quick: dict[tuple[Path, ...], bool] = {}
        """Per set of folders: whether their last collect took under `QUICK_S`."""

    def unreported(self, refusals: Iterable[Refusal]) -> list[Refusal]:
        """The refusals not reported before (each is told to the user once per server)."""
        with self._lock:
            new = [refusal for refusal in refusals if refusal not in self._reported]
            self._reported.update(new)
        return new

    def collect_unchanged(
        self,
        roots: Sequence[Path],
        config_dir: Path,
        settings: RulesSettings,
        context: Sequence[Path] = (),
        *,
        nested: Sequence[tuple[Path, str]] | None = None,
    ) -> Rules | None:
        """`collect`, cheap enough for the event loop: only when these folders answered within `QUICK_S` last
        time, and only from texts already read (None: a file is new or changed, or the disk is slow; call
        `collect` in a worker thread)."""
        if not self._quick.get((config_dir, *roots), False):
            return None
        try:
            return self.collect(roots, config_dir, settings, context, nested=nested, unchanged_only=True)
        except _Changed:
            return None

    def collect(
        self,
        roots: Sequence[Path],
        config_dir: Path,
        settings: RulesSettings,
        context: Sequence[Path] = (),
        *,
        nested: Sequence[tuple[Path, str]] | None = None,
        unchanged_only: bool = False,
    ) -> Rules:
        """The rules for a request whose files in context are `context`.

        `nested` (the agent and status: every nested AGENTS.md as (root, relative path)) also lists, by name,
        every conditional or description-only rule not sent for `context`, so the agent can read it.
        """
        started = time.perf_counter()
        folders = (config_dir, *roots)
        try:
            return self._collect(roots, config_dir, settings, context, nested, unchanged_only)
        finally:
            self._quick[folders] = time.perf_counter() - started < QUICK_S

    def _collect(
        self,
        roots: Sequence[Path],
        config_dir: Path,
        settings: RulesSettings,
        context: Sequence[Path],
        nested: Sequence[tuple[Path, str]] | None,
        unchanged_only: bool,
    ) -> Rules:
        rules = Rules(settings.max_bytes)
        if not settings.enabled:
            return rules
        roots = [Path(os.path.abspath(root)) for root in roots]
        found = _Found(roots, rules.refused, unchanged_only=unchanged_only)
        self._user_rules(found, config_dir)
        for root in roots:
            self._root_rules(found, root)
        self._extra_files(found, roots, config_dir, settings.extra_files)
        in_context = _in_roots(roots, context)
        for root, relative in in_context:
            self._nearest_agents(found, root, relative)
        matching = [
            rule for rule in found.rules if isinstance(rule.applies_to, tuple) and rule.applies(in_context)
        ]
        for root, relative in nested or ():  # after the nearest ones: an AGENTS.md above those is listed
            self._read(found, root, root / relative, "agents", applies_to=(f"{Path(relative).parent}/**",))
        chosen = [rule for rule in found.rules if rule.applies_to == "always"] + matching
        if nested is not None:
            rules.listed = [
                rule for rule in found.rules if isinstance(rule.applies_to, tuple) and rule not in matching
            ] + [rule for rule in found.rules if rule.applies_to == "on request"]
        budget = settings.max_bytes
        for rule in chosen:
            if budget <= 0:
                rules.omitted.append(rule)
                continue
            text = rule.text if rule.bytes <= budget else _cut(rule.text, budget)
            cut = text != rule.text
            budget = 0 if cut else budget - rule.bytes  # after a cut, nothing more
            rules.sent.append(SentRule(rule, text))
        return rules

    # -- where each kind of rules file is ------------------------------------------------------------

    def _user_rules(self, found: _Found, config_dir: Path) -> None:
        path = config_dir / USER_RULES
        if path.is_file():
            self._read(found, None, path, "user", jail_roots=[config_dir])

    def _root_rules(self, found: _Found, root: Path) -> None:
        for relative, kind in ROOT_FILES:
            if (root / relative).is_file():
                self._read(found, root, root / relative, kind)
        cline = root / ".clinerules"
        if cline.is_dir():
            for path in _folder_files(cline, ("*.md", "*.txt"), recursive=False):
                self._read(found, root, path, "cline")
        elif cline.is_file():
            self._read(found, root, cline, "cline")
        for path in _folder_files(root / ".cursor" / "rules", ("*.mdc",), recursive=True):
            self._read(found, root, path, "cursor")
        for path in _folder_files(root / ".github" / "instructions", ("*.instructions.md",), recursive=True):
            self._read(found, root, path, "copilot-instructions")

    def _extra_files(self, found: _Found, roots: list[Path], config_dir: Path, names: list[str]) -> None:
        allowed = [*roots, config_dir]
        for index, name in enumerate(names):
            named = Path(name).expanduser()
            if not named.is_absolute():
                if not roots:
                    found.refuse(name, "a relative path needs a workspace folder")
                    continue
                named = roots[0] / named
            named = Path(os.path.normpath(named))
            try:
                real = named.resolve()
            except (OSError, RuntimeError):
                found.refuse(name, "the path cannot be resolved (a symlink loop?)")
                continue
            home = next((r for r in allowed if real.is_relative_to(r.resolve())), None)
            if home is None:
                found.refuse(
                    name, "rules.extraFiles may only name files inside the workspace or byok's config dir"
                )
                continue
            if home not in roots and real.suffix.lower() not in _CONFIG_DIR_RULES:
                found.refuse(name, "in byok's config dir only rules files (.md, .mdc, .txt) may be named")
                continue  # never settings.json: it may hold MCP tokens typed in literally
            if not named.is_file():
                found.refuse(name, "no such file")
                continue
            root = home if home in roots else None
            self._read(found, root, named, "extra", jail_roots=allowed, field=f"rules.extraFiles[{index}]")

    def _nearest_agents(self, found: _Found, root: Path, relative: str) -> None:
        """The AGENTS.md nearest above a file in context, below the root (the root one is always read)."""
        directory = Path(relative).parent
        while directory != Path("."):
            if (root / directory / "AGENTS.md").is_file():
                self._read(
                    found, root, root / directory / "AGENTS.md", "agents", applies_to=(f"{directory}/**",)
                )
                return
            directory = directory.parent

    # -- reading -------------------------------------------------------------------------------------

    def _read(
        self,
        found: _Found,
        root: Path | None,
        path: Path,
        kind: str,
        *,
        applies_to: AppliesTo | None = None,
        jail_roots: Sequence[Path] | None = None,
        field: str = "rules",
    ) -> None:
        shown, title = found.names(root, path)
        try:
            identity = _identity(path)
        except OSError as exc:
            found.refuse(shown, f"cannot read it: {exc.strerror or exc}")
            return
        if identity[1] in found.seen:  # the same file by another name (CLAUDE.md -> AGENTS.md)
            return
        found.seen.add(identity[1])
        if jail_roots is None:
            jail_roots = [root] if root else []
        try:
            text = self._text(tuple(jail_roots), path, identity, field, found.unchanged_only)
        except ByokError as exc:
            found.refuse(shown, exc.message.removeprefix(f"{field}: "))
            return
        except OSError as exc:  # gone or changed between the jail's checks and the read
            found.refuse(shown, f"cannot read it: {exc.strerror or exc}")
            return
        rule = RuleFile(shown, title, kind, applies_to or "always", text, root)
        if kind in ("cursor", "copilot-instructions"):
            rule = _classified(rule, kind)
        if rule.text.strip():
            found.rules.append(rule)

    def _text(
        self, jail_roots: tuple[Path, ...], path: Path, identity: _Identity, field: str, unchanged_only: bool
    ) -> str:
        """The file's text: passed through the jail and read again only when the name, what it leads to, or
        the file itself changed since the last read (the jail's checks hold while nothing of that changed)."""
        key = (path, jail_roots)
        with self._lock:
            cached = self._texts.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        if unchanged_only:
            raise _Changed(path)
        jail = FileJail(jail_roots)
        text = jail.read(jail.locate(path.as_uri(), field), field)
        with self._lock:
            self._texts[key] = (identity, text)
        return text


_Identity = tuple[tuple[int, int, int, int], tuple[int, int], int, int, int]
"""A name's own entry (inode, mtime, ctime, size), the file it leads to (device, inode), and that file's
mtime, ctime and size: any rename, re-pointed symlink or write changes it."""


def _identity(path: Path) -> _Identity:
    entry, target = os.lstat(path), os.stat(path)
    return (
        (entry.st_ino, entry.st_mtime_ns, entry.st_ctime_ns, entry.st_size),
        (target.st_dev, target.st_ino),
        target.st_mtime_ns,
        target.st_ctime_ns,
        target.st_size,
    )


def _in_roots(roots: list[Path], context: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each file in context as (the first root holding it, its path relative to that root), symlinks in the
    root's own path or the file's allowed for."""
    placed: list[tuple[Path, str]] = []
    for named in context:
        path = Path(os.path.abspath(named))
        for root in roots:
            inside = next(
                (
                    (candidate, base)
                    for candidate in (path, path.resolve())
                    for base in (root, root.resolve())
                    if candidate.is_relative_to(base)
                ),
                None,
            )
            if inside is not None:
                placed.append((root, inside[0].relative_to(inside[1]).as_posix()))
                break
    return placed


def _classified(rule: RuleFile, kind: str) -> RuleFile:
    """A `.mdc` or `.instructions.md` rule's scope from its front matter, and its text without it."""
    front = parse_front_matter(rule.text)
    description = front.text("description")
    if kind == "cursor":
        globs = front.globs("globs")
        if front.flag("alwaysApply") or always(globs):
            applies: AppliesTo = "always"
        elif globs:
            applies = tuple(globs)
        else:
            applies = "on request"  # Cursor's "agent requested" rule (with a description) or a manual one
    else:
        globs = front.globs("applyTo")
        applies = "always" if always(globs) else tuple(globs) if globs else "on request"
    return replace(rule, text=front.body, applies_to=applies, description=description)


class _Changed(Exception):
    """A rules file is new or changed since it was last read: `collect_unchanged` leaves it to `collect`."""


@dataclass(slots=True)
class _Found:
    roots: list[Path]
    refused: list[Refusal]
    rules: list[RuleFile] = field(default_factory=list)
    seen: set[tuple[int, int]] = field(default_factory=set)
    unchanged_only: bool = False
    """Raise `_Changed` rather than read a file (on the event loop)."""

    def names(self, root: Path | None, path: Path) -> tuple[str, str]:
        """How status and the prompt name the file."""
        if root is None:
            return str(path), f"{path.name} (the user's rules for every workspace)"
        if path.is_relative_to(root):
            relative = path.relative_to(root).as_posix()
        else:  # an extra file named through a symlink into the workspace
            relative = path.resolve().relative_to(root.resolve()).as_posix()
        shown = f"{root.name}/{relative}" if len(self.roots) > 1 else relative
        return shown, shown

    def refuse(self, path: str, reason: str) -> None:
        self.refused.append(Refusal(path, reason))


def _folder_files(folder: Path, patterns: tuple[str, ...], *, recursive: bool) -> list[Path]:
    """Regular files in `folder` matching `patterns`, sorted, at most MAX_FOLDER_FILES (none if no folder)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found: set[Path] = set()
    for pattern in patterns:
        for path in folder.rglob(pattern) if recursive else folder.glob(pattern):
            if path.is_file():
                found.add(path)
            if len(found) >= MAX_FOLDER_FILES:
                break
    return sorted(found)[:MAX_FOLDER_FILES]


def _walk_for_agents(root: Path) -> list[str]:
    """Nested AGENTS.md files outside git: a walk that skips hidden, dependency and build folders and stops
    after MAX_WALKED_DIRECTORIES (no .gitignore matching, which can backtrack: see workspace/ignore.py)."""
    found: list[str] = []
    pending, visited = [root], 0
    while pending and visited < MAX_WALKED_DIRECTORIES:
        directory = pending.pop()
        visited += 1
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith(".") and entry.name not in SKIPPED_DIRECTORIES:
                    pending.append(Path(entry.path))
            elif entry.name == "AGENTS.md" and directory != root:
                found.append(Path(entry.path).relative_to(root).as_posix())
    return found


async def nested_agents_files(root: Path) -> list[tuple[Path, str]]:
    """Every AGENTS.md below the root (not the root's own): as git lists files, else by a bounded walk."""
    listed = await git_files(root, root)
    if listed is None:
        listed = await asyncio.to_thread(_walk_for_agents, root)
    return [(root, path) for path in sorted(listed) if path.endswith("/AGENTS.md")]
