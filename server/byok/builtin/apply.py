"""The built-in Apply model: place a chat model's code block into a file as minimal edits.

A snippet is split at lazy markers (`# ... existing code ...`, `// ...`, `/* ... */`, `<!-- ... -->`, a
bare `...`) into segments. Each segment is located in the original by its context lines (the rarest line
picks candidate places, a patience diff aligns the segment there); the original lines between its first
and last matched line are replaced by the segment. A segment that holds a complete block (a function, a
class, an element) replaces the original block with the same header up to its end. A segment that cannot
be placed with confidence (no context, or context matching in several places equally well) is reported
in `unresolved` and left out. Edits are computed per replaced region, one per changed hunk.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from byok.base.text import FENCE, apply_edits, indent_of, newline_of, split_lines, utf16_len
from byok.builtin.diff import changed_ranges, matching_blocks

__all__ = ["ApplyResult", "TextEditSpec", "apply_snippet"]


@dataclass
class TextEditSpec:
    """One LSP TextEdit: 0-based lines, `character` in UTF-16 code units."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    new_text: str


@dataclass
class ApplyResult:
    """The edits (one per hunk), how many hunks, the pieces left out, and the file after the edits."""

    edits: list[TextEditSpec]
    hunks: int
    unresolved: list[str]
    new_text: str
    regions: list[tuple[int, int]] = field(default_factory=list)
    """Original line ranges `[start, end)` each placed segment replaced (for diagnostics)."""


_COMMENT = re.compile(r"^(?:#+|//+|--|;+|%+|/\*+|<!--|\{/\*+)\s*(?P<body>.*?)\s*(?:\*+/\}?|-->)?$")
_DOTS = re.compile(r"\.\.\.|…")
_WORDS = re.compile(r"^[\w\s,.'\u2019()/&:+-]*$")
_DEFINITION = re.compile(
    r"\b(?:def|class|function|func|fn|struct|enum|trait|interface|impl|type|module)\s+(?:\([^)]*\)\s*)?"
    r"([A-Za-z_$][\w$]*)"
)
_METHOD = re.compile(
    r"^\s*(?!(?:for|if|elif|while|switch|return|new|else|catch|await|yield|throw|case|with|assert|print)\b)"
    r"(?:[\w<>\[\],.?]+\s+)+([A-Za-z_$][\w$]*)\s*\([^;=]*$"
)
_CLOSER = re.compile(r"^(?:[}\])]|</|end\b)")
_MAX_CANDIDATES = 40
_TWO_ALNUM = re.compile(r"[^\W_].*?[^\W_]")


def is_marker(line: str) -> bool:
    """Whether `line` is a lazy "unchanged code elided here" marker."""
    stripped = line.strip()
    if stripped in ("...", "…"):
        return True
    match = _COMMENT.match(stripped)
    if match is None:
        return False
    body = match["body"]
    return len(body) <= 80 and bool(_DOTS.search(body)) and bool(_WORDS.match(_DOTS.sub(" ", body)))


def _key(line: str) -> str:
    key = line.strip()
    return " ".join(key.split()) if "  " in key or "\t" in key else key


def _width(line: str) -> int:
    return len(indent_of(line).expandtabs(4))


def _trivial(key: str) -> bool:
    return _TWO_ALNUM.search(key) is None


def _is_closer(line: str) -> bool:
    return bool(_CLOSER.match(line.lstrip()))


def block_end(lines: list[str], header: int) -> int | None:
    """Last line of the block `lines[header]` opens (deeper lines, then a closer at its width), or None."""
    if not lines[header].strip():
        return None
    width = _width(lines[header])
    last = header
    k = header + 1
    while k < len(lines):
        if lines[k].strip():
            if _width(lines[k]) <= width:
                break
            last = k
        k += 1
    if last == header:
        return None
    if k < len(lines) and _width(lines[k]) == width and _is_closer(lines[k]):
        last = k
    return last


@dataclass
class _Segment:
    lines: list[str]
    start: int
    marker_before: str | None
    marker_after: str | None

    def describe(self) -> str:
        return f"snippet lines {self.start + 1}-{self.start + len(self.lines)}:\n" + "\n".join(self.lines)


@dataclass
class _Shift:
    """Re-indentation of snippet lines onto the original: drop `remove`, then prefix `add`."""

    add: str = ""
    remove: str = ""

    @staticmethod
    def between(original: str, snippet: str) -> _Shift:
        o, s = indent_of(original), indent_of(snippet)
        if o == s:
            return _Shift()
        if len(o) > len(s) and o.endswith(s):
            return _Shift(add=o[: len(o) - len(s)])
        if len(s) > len(o) and s.endswith(o):
            return _Shift(remove=s[: len(s) - len(o)])
        return _Shift()

    def __call__(self, line: str) -> str:
        if not line.strip():
            return line
        if self.remove and line.startswith(self.remove):
            line = line[len(self.remove) :]
        return self.add + line


class _Shape:
    """Indentation structure of a segment: per line its width, whether a deeper line follows it (it opens
    a block), and the first later line no deeper (where its block ends; None when it runs to the end)."""

    def __init__(self, lines: list[str]) -> None:
        self.widths = [_width(line) for line in lines]
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
            while stack and self.widths[stack[-1]] >= width:
                self.ends[stack.pop()] = number
            stack.append(number)
            self.last = number


@dataclass
class _Placement:
    start: int
    end: int
    lines: list[str]
    pairs: list[tuple[int, int]]
    shift: _Shift
    score: int


@dataclass
class _OpenBlock:
    snippet_width: int
    end: int
    shift: _Shift


class _Planner:
    """Places segments into the original, left to right."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._exact: dict[int, str] = {}
        self.keys = [_key(line) for line in lines]
        self.index: dict[str, list[int]] = {}
        for number, key in enumerate(self.keys):
            self.index.setdefault(key, []).append(number)

    def _likely(self, keys: list[str], anchor: int, spots: list[int]) -> list[int]:
        """The candidate places worth aligning: those where the most segment lines occur nearby (all
        tied ones, up to a limit, so a tie can still be reported)."""
        distinct = {key for key in keys if not _trivial(key)}
        reach = len(keys) + 20

        def nearby(spot: int) -> int:
            total = 0
            for key in distinct:
                found = self.index.get(key, [])
                at = bisect_left(found, spot - anchor - reach)
                total += at < len(found) and found[at] <= spot + reach
            return total

        scored = sorted(((nearby(spot), spot) for spot in spots[: _MAX_CANDIDATES * 5]), key=lambda x: -x[0])
        best = scored[0][0]
        return sorted(spot for score, spot in scored[:_MAX_CANDIDATES] if score == best)[:8] or [scored[0][1]]

    def follows(self, previous: str, key: str) -> bool:
        """Whether the original has a line `key` whose previous non-blank line is `previous`."""
        for number in self.index.get(key, ()):
            before = number - 1
            while before >= 0 and not self.keys[before]:
                before -= 1
            if (self.keys[before] if before >= 0 else "") == previous:
                return True
        return False

    def occurrences(self, key: str, lo: int) -> list[int]:
        found = self.index.get(key, [])
        return found[bisect_left(found, lo) :]

    def locate(self, seg: list[str], lo: int, inside: _OpenBlock | None) -> _Placement | str | None:
        """Best placement of `seg` at or after line `lo`; "ambiguous" on a tie; None without context."""
        keys = [_key(line) for line in seg]
        anchor = -1
        spots: list[int] = []
        for i, key in enumerate(keys):
            if _trivial(key):
                continue
            found = self.occurrences(key, lo)
            if found and (anchor < 0 or len(found) < len(spots)):
                anchor, spots = i, found
        if anchor < 0:
            return None
        found_places: dict[tuple[int, int], _Placement] = {}
        if len(spots) > 3:
            spots = self._likely(keys, anchor, spots)
        for spot in spots:
            place = self._align(seg, keys, anchor, spot, lo)
            if place is not None:
                known = found_places.get((place.start, place.end))
                if known is None or known.score < place.score:
                    found_places[(place.start, place.end)] = place
        if not found_places:
            return None

        def rank(place: _Placement) -> tuple[int, int]:
            within = inside is not None and place.start <= inside.end
            return place.score, int(within)

        ranked = sorted(found_places.values(), key=rank, reverse=True)
        if len(ranked) > 1 and rank(ranked[0]) == rank(ranked[1]):
            return None if ranked[0].score <= 1 else "ambiguous"
        return ranked[0]

    def _align(self, seg: list[str], keys: list[str], anchor: int, spot: int, lo: int) -> _Placement | None:
        m, n = len(seg), len(self.lines)
        wlo = max(lo, spot - 3 * anchor - 50)
        whi = min(n, spot + 3 * (m - anchor) + 200)
        blank_free = [key or f"\0{i}" for i, key in enumerate(keys)]
        pairs = self._pairs(seg, blank_free, self.keys, wlo, whi, anchor, spot)
        first = next((p for p in pairs if not _trivial(keys[p[0]])), pairs[0])
        shift = _Shift.between(self.lines[first[1]], seg[first[0]])
        delta = _width(self.lines[first[1]]) - _width(seg[first[0]])
        exact_keys = [
            f"{_width(line) + delta}|{key}" if key else f"\0{i}"
            for i, (line, key) in enumerate(zip(seg, keys, strict=True))
        ]
        if _key(shift(seg[anchor])) == self.keys[spot] and _width(shift(seg[anchor])) == _width(
            self.lines[spot]
        ):
            strict_pairs = self._pairs(seg, exact_keys, self.exact_keys(wlo, whi), wlo, whi, anchor, spot)
            if 5 * self._score(strict_pairs, keys) >= 3 * self._score(pairs, keys):
                pairs = strict_pairs
        new = [shift(line) for line in seg]
        start, end = pairs[0][1], pairs[-1][1] + 1
        first_seg, last_seg = pairs[0][0], pairs[-1][0]
        if first_seg <= start - lo and all(
            _key(new[k]) == self.keys[start - first_seg + k] for k in range(first_seg)
        ):
            start, first_seg = start - first_seg, 0
        if m - 1 - last_seg <= n - end and all(
            _key(new[last_seg + 1 + k]) == self.keys[end + k] for k in range(m - 1 - last_seg)
        ):
            end, last_seg = end + m - 1 - last_seg, m - 1
        while last_seg < m - 1 and end < n and not new[-1].strip() and not self.lines[end].strip():
            new.pop()
            m -= 1
        skip = 0
        while (
            skip < first_seg
            and start - skip > lo
            and not new[skip].strip()
            and not self.lines[start - 1 - skip].strip()
        ):
            skip += 1
        if skip:
            del new[:skip]
            pairs = [(i - skip, j) for i, j in pairs]
            first_seg -= skip
            last_seg -= skip
            m -= skip
        if first_seg > 0:
            before = start - 1
            while before >= lo and not self.lines[before].strip():
                before -= 1
            if before >= lo and any(_similar(new[k], self.lines[before]) for k in (0, first_seg - 1)):
                start = before
        if last_seg < m - 1:
            after = end
            while after < n and not self.lines[after].strip():
                after += 1
            if after < n and any(_similar(new[k], self.lines[after]) for k in (m - 1, last_seg + 1)):
                end = after + 1
        return _Placement(start, end, new, pairs, shift, self._score(pairs, keys))

    def exact_keys(self, lo: int, hi: int) -> dict[int, str]:
        """Keys carrying the indentation width for original lines `[lo, hi)`, computed once per line."""
        exact = self._exact
        for number in range(lo, hi):
            if number not in exact:
                key = self.keys[number]
                exact[number] = f"{_width(self.lines[number])}|{key}" if key else ""
        return exact

    @staticmethod
    def _score(pairs: list[tuple[int, int]], keys: list[str]) -> int:
        return sum(1 for i, _ in pairs if not _trivial(keys[i]))

    def _pairs(
        self,
        seg: list[str],
        seg_keys: list[str],
        orig_keys: Mapping[int, str] | list[str],
        wlo: int,
        whi: int,
        anchor: int,
        spot: int,
    ) -> list[tuple[int, int]]:
        """Matched (segment line, original line) pairs through the anchor pair `(anchor, spot)`, dropping
        weak matches that jump over original lines the segment does not account for."""
        before = matching_blocks(seg_keys[:anchor], [orig_keys[k] for k in range(wlo, spot)], head=False)
        after = matching_blocks(
            seg_keys[anchor + 1 :], [orig_keys[k] for k in range(spot + 1, whi)], foot=False
        )
        head = [(i, j + wlo, size) for i, j, size in before]
        tail = [(i + anchor + 1, j + spot + 1, size) for i, j, size in after]

        def strength(block: tuple[int, int, int]) -> int:
            total = 0
            for i in range(block[0], block[0] + block[2]):
                key = _key(seg[i])
                if not _trivial(key):
                    total += 2 if len(self.index.get(key, ())) == 1 and len(key) >= 12 else 1
            return total

        def keep(block: tuple[int, int, int], seg_gap: int, orig_gap: int) -> bool:
            power = strength(block)
            if power >= 2 or seg_gap == orig_gap == 0:
                return True
            if power == 1:
                return orig_gap <= seg_gap + 3
            lines = range(block[0], block[0] + block[2])
            return orig_gap <= seg_gap and all(
                self._same_owner(seg, i, block[1] + i - block[0]) for i in lines
            )

        kept = [(anchor, spot, 1)]
        for block in tail:
            prev = kept[-1]
            if keep(block, block[0] - prev[0] - prev[2], block[1] - prev[1] - prev[2]):
                kept.append(block)
        for block in reversed(head):
            nearest = kept[0]
            if keep(block, nearest[0] - block[0] - block[2], nearest[1] - block[1] - block[2]):
                kept.insert(0, block)
        return [(i + k, j + k) for i, j, size in kept for k in range(size)]

    def _same_owner(self, seg: list[str], i: int, j: int) -> bool:
        """For a closing line matched across a gap: whether it closes the same kind of block on both sides."""
        if not _is_closer(seg[i]):
            return True
        mine = _owner(seg, i)
        theirs = _owner(self.lines, j)
        if mine is None or theirs is None:
            return mine is None
        return _key(seg[mine]) == self.keys[theirs] or _similar(seg[mine], self.lines[theirs])

    def complete_blocks(self, place: _Placement, seg: _Segment) -> None:
        """Stretch the placement over whole original blocks whose header the segment closes.

        A segment holds the complete block of one of its lines when the block visibly ends inside the
        segment, or the snippet ends with it. When a marker follows, the block is complete unless the
        marker is deeper than the header or the segment's last line is an original line from the middle
        of the block (the marker then elides the block's rest).
        """
        shape = _Shape(place.lines)
        matched = dict(place.pairs)
        marker = None if seg.marker_after is None else len(seg.marker_after.expandtabs(4))
        for i, j in place.pairs:
            if not shape.deeper[i]:
                continue
            end = block_end(self.lines, j)
            if end is None or end + 1 <= place.end:
                continue
            if shape.ends[i] is None and marker is not None:
                if marker > shape.widths[i]:
                    continue
                where = matched.get(shape.last)
                if where is not None and j < where < end:
                    continue
            place.end = end + 1

    def open_blocks(self, place: _Placement, seg: _Segment) -> list[_OpenBlock]:
        """Blocks the segment opens but leaves to a later segment (a marker deeper than the header follows)."""
        if seg.marker_after is None:
            return []
        marker = len(seg.marker_after.expandtabs(4))
        shape = _Shape(place.lines)
        opened: list[_OpenBlock] = []
        for i, j in place.pairs:
            if shape.ends[i] is None and place.lines[i].strip() and shape.widths[i] < marker:
                end = block_end(self.lines, j)
                if end is not None:
                    opened.append(_OpenBlock(_width(seg.lines[i]), end, place.shift))
        return opened

    def by_signature(self, seg: list[str], lo: int) -> _Placement | None:
        """Place a segment with no matching line by the definition it starts with, or, for a one-line
        segment, by the one original line it is an edited version of."""
        heads = [i for i, line in enumerate(seg) if line.strip()]
        if not heads:
            return None
        head = heads[0]
        name = _definition_name(seg[head])
        if name is not None:
            spots = [
                j
                for j in range(lo, len(self.lines))
                if name in self.lines[j] and _definition_name(self.lines[j]) == name
            ]
        elif len(heads) == 1:
            spots = [j for j in range(lo, len(self.lines)) if _similar(seg[head], self.lines[j])]
        else:
            return None
        if len(spots) != 1:
            return None
        shift = _Shift.between(self.lines[spots[0]], seg[head])
        return _Placement(spots[0], spots[0] + 1, [shift(line) for line in seg], [(head, spots[0])], shift, 1)


_HEAD = re.compile(r"\s*([^\s=:(\[{<]+|<\w+)")
_TRAILING = ".,:;>{}()[] "


def _similar(new: str, old: str) -> bool:
    """Whether `new` reads as an edited version of `old`: same indentation and definition or leading
    token, and one a prefix of the other (trailing punctuation aside) or mostly the same characters."""
    if not new.strip() or not old.strip() or _width(new) != _width(old):
        return False
    name = _definition_name(new)
    if name is not None:
        return name == _definition_name(old)
    head_new, head_old = _HEAD.match(new), _HEAD.match(old)
    if head_new is None or head_old is None or head_new[1] != head_old[1]:
        return False
    a, b = _key(new), _key(old)
    short, long = sorted((a, b), key=len)
    stem = short.rstrip(_TRAILING)
    if len(stem) >= 10 and long.startswith(stem):
        return True
    return max(len(a), len(b)) >= 12 and SequenceMatcher(None, a, b).ratio() >= 0.75


def _owner(lines: list[str], closer: int) -> int | None:
    """The line opening the block that `lines[closer]` closes: the nearest earlier line no deeper."""
    width = _width(lines[closer])
    for number in range(closer - 1, max(-1, closer - 2000), -1):
        if lines[number].strip() and _width(lines[number]) <= width:
            return number
    return None


def _definition_name(line: str) -> str | None:
    match = _DEFINITION.search(line) or _METHOD.match(line)
    return match[1] if match else None


def _strip_fence(snippet: str) -> str:
    lines = snippet.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return snippet
    opening = lines[first].strip()
    fence = FENCE.match(opening)
    if fence is None:
        return snippet
    mark = fence[1]
    close = next(
        (i for i in range(len(lines) - 1, first, -1) if lines[i].strip().startswith(mark)), len(lines)
    )
    return "\n".join(line.rstrip("\r") for line in lines[first + 1 : close]) + "\n"


def _drop_path_comment(lines: list[str], original: Mapping[str, object], path: str | None) -> list[str]:
    """Drop a first line like `// src/app.ts` or `# filepath: x.py` naming the file."""
    if not lines or path is None:
        return lines
    first = lines[0].strip()
    name = os.path.basename(path)
    if name and name in first and _COMMENT.match(first) and _key(first) not in original:
        return lines[1:]
    return lines


def _unit(widths: list[int]) -> int:
    positive = [w for w in widths if w > 0]
    return min(positive) if positive and min(positive) in (2, 3, 4, 8) else 4


def _match_tabs(lines: list[str], original: list[str]) -> list[str]:
    """Convert the snippet's indentation to tabs or spaces as the original uses."""

    def style(text: list[str]) -> tuple[int, int]:
        return sum(1 for x in text if x.startswith("\t")), sum(
            1 for x in text if x.startswith(" ") and x.strip()
        )

    s_tabs, s_spaces = style(lines)
    if not s_tabs and not s_spaces:
        return lines
    o_tabs, o_spaces = style(original[:2000])
    if o_tabs > o_spaces and s_spaces > s_tabs:
        unit = _unit([len(indent_of(x)) for x in lines if x.strip() and "\t" not in indent_of(x)])
        out = []
        for line in lines:
            ind = indent_of(line)
            if ind and "\t" not in ind:
                out.append("\t" * (len(ind) // unit) + " " * (len(ind) % unit) + line[len(ind) :])
            else:
                out.append(line)
        return out
    if o_spaces > o_tabs and s_tabs > s_spaces:
        unit = _unit(sorted({_width(x) for x in original[:2000] if x.strip()}))
        return [indent_of(x).replace("\t", " " * unit) + x.lstrip(" \t") if x.strip() else x for x in lines]
    return lines


def _segments(lines: list[str], planner: _Planner) -> list[_Segment]:
    """Split the snippet at its markers. A marker-looking line that the original has right after the same
    line is taken literally (`...` is also a Python statement)."""
    segments: list[_Segment] = []
    current: list[str] = []
    start = 0
    before: str | None = None
    previous = ""
    for number, line in enumerate([*lines, None]):
        marker = line is None or (is_marker(line) and not planner.follows(previous, _key(line)))
        if line is not None and line.strip():
            previous = _key(line)
        if not marker and line is not None:
            if not current:
                start = number
            current.append(line)
            continue
        after = None if line is None else indent_of(line)
        if any(x.strip() for x in current):
            segments.append(_Segment(current, start, before, after))
        current = []
        before = after if line is not None else before
    if segments:
        head, tail = segments[0], segments[-1]
        if head.marker_before is None:
            while head.lines and not head.lines[0].strip():
                head.lines.pop(0)
                head.start += 1
        if tail.marker_after is None:
            while tail.lines and not tail.lines[-1].strip():
                tail.lines.pop()
    return segments


def apply_snippet(
    original: str, snippet: str, *, language_id: str | None = None, path: str | None = None
) -> ApplyResult:
    """Turn a chat model's code block into minimal edits of `original`.

    `language_id` is accepted for the LSP wiring; markers of every comment syntax are recognised.
    """
    del language_id
    snippet = _strip_fence(snippet)
    nl = newline_of(original)
    olines, ofinal = split_lines(original)
    slines, _ = split_lines(snippet)
    if not original.strip():
        text = "".join(line + nl for line in slines)
        last_line = original.count("\n")
        edit = TextEditSpec(0, 0, last_line, utf16_len(original.rsplit("\n", 1)[-1]), text)
        changed = text != original
        return ApplyResult([edit] if changed else [], int(changed), [], text)
    planner = _Planner(olines)
    slines = _match_tabs(_drop_path_comment(slines, planner.index, path), olines)
    regions: list[tuple[int, int, list[str]]] = []
    unresolved: list[str] = []
    lo = 0
    opened: list[_OpenBlock] = []
    segments = _segments(slines, planner)
    if len(segments) == 1 and _whole_file(segments[0], planner.keys):
        filled = [number for number, key in enumerate(planner.keys) if key]
        region = (filled[0], filled[-1] + 1, segments[0].lines)
        return _result(original, olines, ofinal, nl, [region], [])
    for number, seg in enumerate(segments):
        width = next(_width(line) for line in seg.lines if line.strip())
        while opened and width <= opened[-1].snippet_width:
            opened.pop()
        inside = opened[-1] if opened else None
        found = planner.locate(seg.lines, lo, inside)
        if found is None:
            placement = _contextless(planner, seg, number, len(segments), lo, inside)
        elif isinstance(found, str):
            placement = None
        else:
            placement = found
        if placement is None and found is None and inside is None:
            retry = planner.locate(seg.lines, 0, None)
            if isinstance(retry, _Placement) and not any(
                retry.start < end and start < retry.end for start, end, _ in regions
            ):
                placement = retry
        if placement is None:
            unresolved.append(seg.describe())
            continue
        planner.complete_blocks(placement, seg)
        if any(placement.start < end and start < placement.end for start, end, _ in regions):
            unresolved.append(seg.describe())
            continue
        regions.append((placement.start, placement.end, placement.lines))
        lo = max(lo, placement.end)
        opened.extend(planner.open_blocks(placement, seg))
    return _result(original, olines, ofinal, nl, regions, unresolved)


def _result(
    original: str,
    olines: list[str],
    ofinal: bool,
    nl: str,
    regions: list[tuple[int, int, list[str]]],
    unresolved: list[str],
) -> ApplyResult:
    """Diff each placed region against the original lines it replaces: one edit per changed hunk."""
    regions.sort(key=lambda region: region[0])
    edits: list[TextEditSpec] = []
    for start, end, new in regions:
        for i1, i2, j1, j2 in changed_ranges(olines[start:end], new):
            edits.append(_edit(olines, ofinal, nl, start + i1, start + i2, new[j1:j2]))
    spans = [(start, end) for start, end, _ in regions]
    return ApplyResult(edits, len(edits), unresolved, apply_edits(original, edits), spans)


def _whole_file(seg: _Segment, keys: list[str]) -> bool:
    """Whether a snippet without markers is the whole file: it starts and ends as the original does and
    is about as long."""
    if seg.marker_before is not None or seg.marker_after is not None:
        return False
    mine = [_key(line) for line in seg.lines if line.strip()]
    theirs = [key for key in keys if key]
    return bool(mine) and mine[0] == theirs[0] and mine[-1] == theirs[-1] and len(mine) * 5 >= len(theirs) * 4


def _contextless(
    planner: _Planner, seg: _Segment, number: int, count: int, lo: int, inside: _OpenBlock | None
) -> _Placement | None:
    """Place a segment none of whose lines exist in the original: by its position among the markers."""
    lines = planner.lines
    if inside is not None:
        shifted = [inside.shift(line) for line in seg.lines]
        closer = _is_closer(lines[inside.end])
        at = max(inside.end if closer else inside.end + 1, lo)
        tail = next((line for line in reversed(shifted) if line.strip()), "")
        if (
            closer
            and at == inside.end
            and _key(tail) == _key(lines[at])
            and _width(tail) == _width(lines[at])
        ):
            return _Placement(at, at + 1, shifted, [], inside.shift, 0)
        return _Placement(at, at, shifted, [], inside.shift, 0)
    signed = planner.by_signature(seg.lines, lo)
    if signed is not None:
        return signed
    if number == 0 and seg.marker_before is None and seg.marker_after is not None:
        return _Placement(0, 0, seg.lines, [], _Shift(), 0)
    if number == count - 1 and seg.marker_after is None and seg.marker_before is not None:
        return _Placement(len(lines), len(lines), seg.lines, [], _Shift(), 0)
    return None


def _edit(olines: list[str], ofinal: bool, nl: str, i1: int, i2: int, new: list[str]) -> TextEditSpec:
    """The TextEdit replacing original lines `[i1, i2)` with `new`, keeping the final-newline state."""
    n = len(olines)
    if ofinal or i2 < n:
        return TextEditSpec(i1, 0, i2, 0, "".join(line + nl for line in new))
    last = utf16_len(olines[n - 1])
    if new and i1 < n:
        return TextEditSpec(i1, 0, n - 1, last, nl.join(new))
    if new:
        return TextEditSpec(n - 1, last, n - 1, last, nl + nl.join(new))
    if i1 == 0:
        return TextEditSpec(0, 0, n - 1, last, "")
    return TextEditSpec(i1 - 1, utf16_len(olines[i1 - 1]), n - 1, last, "")
