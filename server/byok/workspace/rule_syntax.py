"""The syntax of rules files: front matter (`applyTo`, `globs`, `alwaysApply`, `description`) and their globs.

Rules files come from the workspace, so both are parsed without YAML (Cursor's `globs: *.ts` is not valid
YAML anyway) and globs are matched segment by segment with `fnmatch`, which never backtracks badly: a
hostile pattern costs at most (patterns) * (path segments) comparisons.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache

MAX_FRONT_MATTER_LINES = 200
MAX_GLOBS = 32
MAX_GLOB_CHARS = 500
MAX_BRACE_EXPANSIONS = 32
MAX_GLOB_SEGMENTS = 24
"""A pattern with more segments never matches (no real path rule needs that many)."""
_BRACES = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The fields a rules file's front matter sets, and the text after it."""

    fields: dict[str, str | list[str]] = field(default_factory=dict)
    body: str = ""

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        if isinstance(value, list):
            return ", ".join(value) or None
        return value or None

    def flag(self, name: str) -> bool:
        return (self.text(name) or "").lower() == "true"

    def globs(self, name: str) -> list[str]:
        """The globs of a field written as `a, b`, `[a, b]` or a `- a` list (braces keep their commas)."""
        value = self.fields.get(name)
        items = value if isinstance(value, list) else split_globs(value or "")
        return [glob for item in items for glob in split_globs(item)][:MAX_GLOBS]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_front_matter(text: str) -> FrontMatter:
    """`---` + `key: value` lines + `---` at the very start; anything else is all body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return FrontMatter(body=text)
    end = next(
        (i for i in range(1, min(len(lines), MAX_FRONT_MATTER_LINES)) if lines[i].strip() == "---"), None
    )
    if end is None:
        return FrontMatter(body=text)
    fields: dict[str, str | list[str]] = {}
    current: str | None = None
    for raw in lines[1:end]:
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and current is not None:
            listed = fields.get(current)
            fields[current] = [*(listed if isinstance(listed, list) else []), _unquote(stripped[2:])]
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip() or key[0].isspace():
            current = None
            continue
        current, value = key.strip(), value.strip()
        if value.startswith("[") and value.endswith("]"):
            fields[current] = [_unquote(item) for item in split_globs(value[1:-1])]
        else:
            fields[current] = _unquote(value)
    return FrontMatter(fields, "".join(lines[end + 1 :]).lstrip("\r\n"))


def split_globs(value: str) -> list[str]:
    """Comma-separated globs; a comma inside `{...}` belongs to the glob."""
    parts: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(value):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return [_unquote(part) for part in parts if part.strip()]


def _expand_braces(pattern: str) -> list[str]:
    """`*.{ts,tsx}` → `*.ts`, `*.tsx` (innermost first), at most MAX_BRACE_EXPANSIONS patterns."""
    done: list[str] = []
    pending = [pattern]
    while pending and len(done) + len(pending) <= MAX_BRACE_EXPANSIONS:
        current = pending.pop()
        match = _BRACES.search(current)
        if match is None:
            done.append(current)
            continue
        pending += [
            current[: match.start()] + choice + current[match.end() :] for choice in match[1].split(",")
        ]
    return done + pending


@lru_cache(maxsize=1024)
def _segments(pattern: str) -> tuple[tuple[str, ...], ...]:
    """The pattern's alternatives as path segments; a pattern without `/` matches a name at any depth."""
    alternatives: list[tuple[str, ...]] = []
    for expanded in _expand_braces(pattern.strip()[:MAX_GLOB_CHARS]):
        glob = expanded.replace("\\", "/").removeprefix("./")
        if not glob:
            continue
        if glob.endswith("/"):
            glob += "**"
        anchored = glob.startswith("/") or "/" in glob.rstrip("/")
        parts = tuple(part for part in glob.strip("/").split("/") if part)
        if len(parts) > MAX_GLOB_SEGMENTS:
            continue
        alternatives.append(parts if anchored else ("**", *parts))
    return tuple(alternatives)


def _match_segments(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Whether `path` matches `pattern`, `**` standing for any number of segments (a table, no backtracking)."""
    # reachable[j]: the pattern's first i segments can match the path's first j segments
    reachable = [True] + [False] * len(path)
    for segment in pattern:
        if segment == "**":
            for j in range(1, len(path) + 1):
                reachable[j] = reachable[j] or reachable[j - 1]
        else:
            reachable = [False] + [
                reachable[j] and fnmatch.fnmatchcase(path[j], segment) for j in range(len(path))
            ]
    return reachable[len(path)]


def glob_matches(patterns: list[str], relative: str) -> bool:
    """Whether a workspace-relative path (`/`-separated) matches any of `patterns`."""
    path = tuple(part for part in relative.split("/") if part)
    return any(
        _match_segments(alternative, path) for pattern in patterns for alternative in _segments(pattern)
    )


def always(patterns: list[str]) -> bool:
    """Whether the globs cover every file (`**`, `**/*`, `*`)."""
    return any(pattern.strip() in ("**", "**/*", "*", "/**") for pattern in patterns)
