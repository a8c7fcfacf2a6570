"""Unified diffs as models write them: parsed per file, and applied by their context, not their numbers.

Models get hunk line numbers wrong, drop the leading space of blank context lines and leave out the
`@@` ranges. So a hunk is placed where its context and removed lines are found: exactly, then ignoring
trailing whitespace, then ignoring indentation; the stated line number only picks between several exact
matches. A hunk that matches nowhere, or in several places with nothing to choose, is not applied and is
reported — never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from byok.base.text import newline_of, split_lines

_HUNK = re.compile(r"^@@+\s*(?:-(\d+)(?:,\d+)?\s+\+\d+(?:,\d+)?)?\s*@@+")
_NULL = "/dev/null"


@dataclass(slots=True)
class Hunk:
    old: list[str] = field(default_factory=list)
    """Context and removed lines, in order."""
    new: list[str] = field(default_factory=list)
    """Context and added lines, in order."""
    old_start: int | None = None
    """The 1-based line the diff says the hunk starts at, if it says."""


@dataclass(slots=True)
class FilePatch:
    old_path: str | None
    """The file before (None: the diff creates it)."""
    new_path: str | None
    """The file after (None: the diff deletes it)."""
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str | None:
        return self.new_path or self.old_path


def _header_path(value: str) -> str | None:
    path = value.split("\t", 1)[0].strip()
    if path == _NULL:
        return None
    return path[2:] if path[:2] in {"a/", "b/"} else path.removeprefix("./")


def parse_unified_diff(text: str, default_path: str | None = None) -> list[FilePatch]:
    """The file patches of a unified diff; hunks without `---`/`+++` headers go to `default_path`."""
    patches: list[FilePatch] = []
    current: FilePatch | None = None
    hunk: Hunk | None = None
    lines, _ = split_lines(text)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            current = FilePatch(_header_path(line[4:]), _header_path(lines[i + 1][4:]))
            patches.append(current)
            hunk = None
            i += 2
            continue
        if line.startswith("diff --git ") or line.startswith("index ") or line.startswith("new file mode"):
            hunk = None
        elif header := _HUNK.match(line):
            if current is None:
                current = FilePatch(default_path, default_path)
                patches.append(current)
            hunk = Hunk(old_start=int(header[1]) if header[1] else None)
            current.hunks.append(hunk)
        elif hunk is not None and not line.startswith("\\"):
            marker, body = (line[0], line[1:]) if line else (" ", "")
            if marker == "-":
                hunk.old.append(body)
            elif marker == "+":
                hunk.new.append(body)
            elif marker == " ":
                hunk.old.append(body)
                hunk.new.append(body)
            else:  # a context line whose leading space was dropped
                hunk.old.append(line)
                hunk.new.append(line)
        i += 1
    return [p for p in patches if p.hunks or p.old_path is None or p.new_path is None]


def _matches(lines: list[str], old: list[str], key: Callable[[str], str]) -> list[int]:
    wanted = [key(line) for line in old]
    keyed = [key(line) for line in lines]
    size = len(wanted)
    return [i for i in range(len(keyed) - size + 1) if keyed[i : i + size] == wanted]


def _locate(lines: list[str], hunk: Hunk) -> int | str:
    """Where the hunk's old lines start in `lines`, or why it cannot be placed."""
    if not hunk.old:
        if not lines:
            return 0
        if hunk.old_start is not None:
            return min(max(hunk.old_start - 1, 0), len(lines))
        return "it adds lines without context or a line number"
    for key in (lambda s: s, str.rstrip, str.strip):
        found = _matches(lines, hunk.old, key)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            if hunk.old_start is not None and hunk.old_start - 1 in found:
                return hunk.old_start - 1
            return f"its context appears {len(found)} times"
    return "its context and removed lines are not in the file"


def apply_patch(text: str, patch: FilePatch) -> tuple[str, list[str]]:
    """`text` with every hunk that can be placed applied, and a description of each one that cannot."""
    lines, final = split_lines(text)
    newline = newline_of(text)
    placed: list[tuple[int, Hunk]] = []
    unresolved: list[str] = []
    for number, hunk in enumerate(patch.hunks, 1):
        where = _locate(lines, hunk)
        if isinstance(where, str):
            unresolved.append(f"hunk {number}: not applied, {where}")
            continue
        end = where + len(hunk.old)
        if any(start < end and where < start + len(other.old) for start, other in placed):
            unresolved.append(f"hunk {number}: not applied, it overlaps an earlier hunk")
            continue
        placed.append((where, hunk))
    for where, hunk in sorted(placed, key=lambda pair: pair[0], reverse=True):
        lines[where : where + len(hunk.old)] = _keep_indent(lines[where : where + len(hunk.old)], hunk)
    if not lines:
        return "", unresolved
    return newline.join(lines) + (newline if final or not text else ""), unresolved


def _keep_indent(found: list[str], hunk: Hunk) -> list[str]:
    """The hunk's new lines; when it was matched ignoring indentation, shifted by the file's indent."""
    if not found or found[0] == hunk.old[0] or not hunk.old[0].strip():
        return hunk.new
    have = found[0][: len(found[0]) - len(found[0].lstrip())]
    said = hunk.old[0][: len(hunk.old[0]) - len(hunk.old[0].lstrip())]
    if said and not have:
        return [line.removeprefix(said) for line in hunk.new]
    return [have + line.removeprefix(said) if line.strip() else line for line in hunk.new]
