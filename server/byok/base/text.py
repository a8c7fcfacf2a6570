"""Text helpers shared by features and built-in models: lines, UTF-16 positions, LSP edits, fences, indentation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Protocol

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
"""A Markdown code fence line: group 1 is the fence mark (3+ backticks or tildes), group 2 what follows."""


class RangeEdit(Protocol):
    """Anything carrying an LSP range (0-based lines, UTF-16 characters) and its replacement text."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    new_text: str


def split_lines(text: str) -> tuple[list[str], bool]:
    """Lines of `text` without terminators (`\\n` or `\\r\\n`), and whether the last line was terminated."""
    if not text:
        return [], False
    lines = text.split("\n")
    final = lines[-1] == ""
    if final:
        lines.pop()
    if "\r" not in text:
        return lines, final
    return [line[:-1] if line.endswith("\r") else line for line in lines], final


def newline_of(text: str) -> str:
    """The dominant line terminator of `text` (`\\n` when it has none)."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of LSP `character` positions."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_index(line: str, character: int) -> int:
    """The index into `line` of the LSP `character` (UTF-16 units), clamped to the line's end."""
    units = 0
    for index, ch in enumerate(line):
        if units >= character:
            return index
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


def apply_edits(text: str, edits: Iterable[RangeEdit]) -> str:
    """Apply non-overlapping LSP edits to `text` the way an editor does."""
    starts = [0, *accumulate(len(line) + 1 for line in text.split("\n"))][:-1]

    def offset(line: int, character: int) -> int:
        if line >= len(starts):
            return len(text)
        begin = starts[line]
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
        content = text[begin:end]
        if content.endswith("\r"):
            content = content[:-1]
        return begin + utf16_to_index(content, character)

    spans = sorted(
        (
            (offset(e.start_line, e.start_character), offset(e.end_line, e.end_character), e.new_text)
            for e in edits
        ),
        key=lambda span: (span[0], span[1]),
    )
    out: list[str] = []
    cursor = 0
    for begin, end, new in spans:
        if begin < cursor:
            raise ValueError("overlapping edits")
        out.append(text[cursor:begin])
        out.append(new)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def closes_fence(line: str, mark: str) -> bool:
    """Whether `line` closes the fence opened with `mark`: the same character at least as often, nothing after."""
    fence = FENCE.match(line)
    return (
        fence is not None and fence[1][0] == mark[0] and len(fence[1]) >= len(mark) and not fence[2].strip()
    )


def indent_of(line: str) -> str:
    """The leading spaces and tabs of `line`."""
    return line[: len(line) - len(line.lstrip(" \t"))]
