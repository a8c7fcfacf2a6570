"""What the built-in Apply model places: snippet segments, re-indentation shifts, the indentation shape of
a segment, placements in the original, and the blocks a placed segment leaves open."""

from __future__ import annotations

from dataclasses import dataclass

from byok.base.text import indent_of
from byok.builtin.apply_lines import continues_header, indent_width


@dataclass
class Segment:
    """Snippet lines between two markers, where they start in the snippet, and the markers' indentation."""

    lines: list[str]
    start: int
    marker_before: str | None
    marker_after: str | None

    def describe(self) -> str:
        return f"snippet lines {self.start + 1}-{self.start + len(self.lines)}:\n" + "\n".join(self.lines)


@dataclass
class Shift:
    """Re-indentation of snippet lines onto the original: drop `remove`, then prefix `add`."""

    add: str = ""
    remove: str = ""

    @staticmethod
    def between(original: str, snippet: str) -> Shift:
        o, s = indent_of(original), indent_of(snippet)
        if o == s:
            return Shift()
        if len(o) > len(s) and o.endswith(s):
            return Shift(add=o[: len(o) - len(s)])
        if len(s) > len(o) and s.endswith(o):
            return Shift(remove=s[: len(s) - len(o)])
        return Shift()

    def __call__(self, line: str) -> str:
        if not line.strip():
            return line
        if self.remove and line.startswith(self.remove):
            line = line[len(self.remove) :]
        return self.add + line


class Shape:
    """Indentation structure of a segment: per line its width, whether a deeper line follows it (it opens
    a block), and the first later line no deeper (where its block ends; None when it runs to the end)."""

    def __init__(self, lines: list[str]) -> None:
        self.widths = [indent_width(line) for line in lines]
        self.deeper = [False] * len(lines)
        self.ends: list[int | None] = [None] * len(lines)
        self.last = -1
        stack: list[int] = []
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            width = self.widths[number]
            if self.last >= 0 and width > self.widths[self.last]:
                self.deeper[self.last] = True
            self.last = number
            while stack and self.widths[stack[-1]] > width:
                self.ends[stack.pop()] = number
            if stack and self.widths[stack[-1]] == width and continues_header(line):
                continue  # `) {`: the header on the stack goes on, its body follows
            while stack and self.widths[stack[-1]] >= width:
                self.ends[stack.pop()] = number
            stack.append(number)


@dataclass
class Placement:
    """Where a segment goes: original lines `[start, end)`, its re-indented lines, matched pairs, score."""

    start: int
    end: int
    lines: list[str]
    pairs: list[tuple[int, int]]
    shift: Shift
    score: int


@dataclass
class OpenBlock:
    """An original block a segment opened for later segments: their width in the snippet, its last line, the shift."""

    snippet_width: int
    end: int
    shift: Shift
