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
from collections.abc import Mapping
from dataclasses import dataclass, field

from byok.base.text import FENCE, apply_edits, indent_of, newline_of, split_lines, utf16_len
from byok.builtin.apply_gaps import OPENERS
from byok.builtin.apply_insertions import drops_definitions, insertion_by_context, unpair_stray_closers
from byok.builtin.apply_lines import (
    COMMENT,
    has_dots,
    indent_width,
    is_closer,
    is_directive,
    is_marker,
    is_trivial,
    line_key,
    new_string_lines,
    new_stub_body,
)
from byok.builtin.apply_loose import loose
from byok.builtin.apply_planner import Planner
from byok.builtin.apply_segments import OpenBlock, Placement, Segment, Shift
from byok.builtin.apply_tags import closing_tags
from byok.builtin.diff import changed_ranges
from byok.builtin.syntax import Syntax, grammar_for

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
    if name and name in first and COMMENT.match(first) and line_key(first) not in original:
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

    s_tabs, s_spaces = style(lines[:2000])
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
        return _better(out, lines, original)
    if o_spaces > o_tabs and s_tabs > s_spaces:
        unit = _unit(sorted({indent_width(x) for x in original[:2000] if x.strip()}))
        out = [indent_of(x).replace("\t", " " * unit) + x.lstrip(" \t") if x.strip() else x for x in lines]
        # the snippet's tabs may be the original's own (a tab-indented heredoc or region)
        return _better(out, lines, original)
    return lines


def _better(converted: list[str], lines: list[str], original: list[str]) -> list[str]:
    """The converted snippet when the original has more of its indented lines as they are (or has none of
    either): a snippet whose lines the original holds both ways is left as written."""
    mine, theirs = _verbatim(converted, original), _verbatim(lines, original)
    return converted if mine > theirs or mine == theirs == 0 else lines


def _verbatim(lines: list[str], original: list[str]) -> int:
    """How many indented snippet lines the original has exactly as they are."""
    verbatim = set(original)
    return sum(1 for x in lines if x[:1] in (" ", "\t") and x.strip() and x in verbatim)


def _filled_before(lines: list[str], number: int) -> str:
    """The last non-blank line before `lines[number]` ("" when there is none)."""
    return next((lines[k] for k in range(number - 1, -1, -1) if lines[k].strip()), "")


def _segments(lines: list[str], planner: Planner) -> list[Segment]:
    """Split the snippet at its markers. A marker-looking line that the original has right after the same
    line is taken literally (`...` is also a Python statement), and so is one that reads as a marker by its
    words alone (`// break omitted`) right after a marker, when the original has it: two markers in a row
    would say no more than one. A bare `...` that is the whole body of a block the snippet opens anew is a
    stub's body, not a marker."""
    cuts: list[int] = []
    text = new_string_lines(lines, planner.index)
    for number, line in enumerate(lines):
        if not is_marker(line) or number in text or new_stub_body(lines, number, planner.index):
            continue
        key = line_key(line)
        if planner.follows(line_key(_filled_before(lines, number)), key):
            continue
        after_cut = bool(cuts) and not any(x.strip() for x in lines[cuts[-1] + 1 : number])
        if after_cut and not has_dots(line) and key in planner.index:
            continue
        cuts.append(number)
    segments: list[Segment] = []
    before: str | None = None
    start = 0
    for cut in [*cuts, len(lines)]:
        chunk = lines[start:cut]
        after = indent_of(lines[cut]) if cut < len(lines) else None
        if any(x.strip() for x in chunk):
            segments.append(Segment(chunk, start, before, after))
        before = after if after is not None else before
        start = cut + 1
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


def _width(seg: Segment) -> int:
    """The indentation the segment starts at: its first filled line's, a directive (`#ifdef`) aside."""
    filled = [line for line in seg.lines if line.strip()]
    return indent_width(next((line for line in filled if not is_directive(line)), filled[0]))


def apply_snippet(
    original: str,
    snippet: str,
    *,
    language_id: str | None = None,
    path: str | None = None,
    syntax: bool = True,
) -> ApplyResult:
    """Turn a chat model's code block into minimal edits of `original`.

    Block ends come from the grammar `language_id` (or `path`'s extension) names, unless `syntax` is
    False or there is none; markers of every comment syntax are recognised.
    """
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
    grammar = grammar_for(language_id, path) if syntax else None
    planner = Planner(olines, Syntax.for_file(olines, grammar))
    slines = _match_tabs(_drop_path_comment(slines, planner.index, path), olines)
    regions: list[tuple[int, int, list[str]]] = []
    unresolved: list[str] = []
    lo = 0
    opened: list[OpenBlock] = []
    placed = -1  # the number of the segment placed last
    segments = _segments(slines, planner)
    if len(segments) == 1 and _whole_file(segments[0], planner.keys):
        filled = [number for number, key in enumerate(planner.keys) if key]
        region = (filled[0], filled[-1] + 1, segments[0].lines)
        return _result(original, olines, ofinal, nl, [region], [])
    for number, seg in enumerate(segments):
        width = _width(seg)
        closed: OpenBlock | None = None
        while opened and width <= opened[-1].snippet_width:
            block = opened.pop()
            closed = block if width == block.snippet_width else closed
        inside = opened[-1] if opened else None
        if closed is not None and (ending := _block_closer(planner, seg, closed, lo)) is not None:
            regions.append((ending.start, ending.end, ending.lines))
            lo = max(lo, ending.end)
            continue
        found = planner.locate(seg.lines, lo, inside)
        for outer in reversed(opened[:-1]):
            if isinstance(found, Placement):
                break
            again = planner.locate(seg.lines, lo, outer)  # a tie the block around the innermost breaks
            found = again if isinstance(again, Placement) else found
        if found is None:
            placement = _contextless(planner, seg, number, len(segments), lo, inside)
        elif isinstance(found, str):
            placement = None
        else:
            placement = found
        if placement is None and inside is None:
            placement = planner.by_plain_context(seg.lines, lo)
        if placement is None and number + 1 < len(segments):
            placement = _enclosing(planner, seg, segments[number + 1 :], lo)
        if placement is None and found is None and inside is None:
            retry = planner.locate(seg.lines, 0, None)
            if isinstance(retry, Placement) and not any(
                retry.start < end and start < retry.end for start, end, _ in regions
            ):
                placement = retry
        if placement is None and found is None:
            placement = planner.fuzzy_locate(seg.lines, lo)
        if placement is None and inside is None:
            placement = insertion_by_context(planner, seg, lo, headers=True)
        if placement is None and regions and placed == number - 1:
            placement = closing_tags(planner.lines, planner.keys, seg, regions[-1], lo)
        if placement is None:
            unresolved.append(seg.describe())
            continue
        if inside is not None:
            _close_block(planner, placement, seg, inside)
        elif closed is not None and placement.start <= closed.end:
            _close_block(planner, placement, seg, closed)  # it starts at the left edge (heredoc text)
        planner.complete_blocks(placement, seg)
        unpair_stray_closers(planner, placement)
        if drops_definitions(planner, placement):
            placement = insertion_by_context(planner, seg, lo, headers=True)
            if placement is None:
                unresolved.append(seg.describe())
                continue
        overlaps = any(placement.start < end and start < placement.end for start, end, _ in regions)
        if overlaps or _adds_closers_only(placement):
            unresolved.append(seg.describe())
            continue
        _drop_blank_tail(planner, placement)
        regions.append((placement.start, placement.end, placement.lines))
        placed = number
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


def _whole_file(seg: Segment, keys: list[str]) -> bool:
    """Whether a snippet without markers is the whole file: it starts and ends as the original does and
    is about as long."""
    if seg.marker_before is not None or seg.marker_after is not None:
        return False
    mine = [line for line in seg.lines if line.strip()]
    theirs = [key for key in keys if key]
    return (
        bool(mine)
        and line_key(mine[0]) == theirs[0]
        and line_key(mine[-1]) == theirs[-1]
        and len(mine) * 5 >= len(theirs) * 4
    )


def _drop_blank_tail(planner: Planner, place: Placement) -> None:
    """Drop the blank lines a placement ends with, unmatched, as many as the original has right after it:
    the snippet's blank line before a marker is the original's, not a new one. Those standing for the blank
    lines the region itself ends with (after its last matched line) stay."""
    last, matched = max(place.pairs, default=(-1, place.end - 1))
    trailing = 0
    while len(place.lines) - 1 - trailing > last and not place.lines[-1 - trailing].strip():
        trailing += 1
    end = place.end
    held = 0
    while end - held - 1 > matched and not planner.keys[end - held - 1]:
        held += 1
    extra = trailing - held
    while extra > 0 and end < len(planner.lines) and not planner.keys[end]:
        place.lines.pop()
        end += 1
        extra -= 1


def _adds_closers_only(place: Placement) -> bool:
    """Whether a placement matched through its lines only adds closers (`}`) and removes nothing: a bare
    closer is no new code, so the snippet meant lines of the original it does not show as kept."""
    shown = {i for i, _ in place.pairs}
    added = [line for i, line in enumerate(place.lines) if line.strip() and i not in shown]
    return (
        bool(place.pairs and added)
        and place.end - place.start == len(place.pairs)
        and all(is_trivial(line_key(line)) or is_closer(line) for line in added)
    )


_CLOSE_GAP = 8
"""Most filled original lines a segment ending with its open block's closer may delete before it."""


def _close_block(planner: Planner, place: Placement, seg: Segment, inside: OpenBlock) -> None:
    """Stretch a placement inside an open block to the block's end when the segment ends with the block's
    closer (unmatched, at the header's width, no marker inside the block after it): the few original lines
    between its last matched line and that closer are lines the snippet deletes."""
    filled = [i for i, line in enumerate(place.lines) if line.strip()]
    marker = seg.marker_after
    if (
        not filled
        or place.end > inside.end
        or (marker is not None and indent_width(marker) > inside.snippet_width)
    ):
        return
    last = filled[-1]
    closer = place.lines[last]
    end_line = planner.lines[inside.end]
    if (
        any(i == last for i, _ in place.pairs)
        or not is_closer(closer)
        or line_key(closer) != planner.keys[inside.end]
        or indent_width(closer) != indent_width(end_line)
        or indent_width(seg.lines[last]) != inside.snippet_width
        or sum(1 for key in planner.keys[place.end : inside.end] if key) > _CLOSE_GAP
    ):
        return
    place.pairs.append((last, inside.end))
    place.end = inside.end + 1


def _block_closer(planner: Planner, seg: Segment, block: OpenBlock, lo: int) -> Placement | None:
    """A segment of closers only (`}`, `end`, `</div>`) right after a marker, at the width of a block a
    header segment opened: the end of that block in the original, when its lines there read the same."""
    filled = [line for line in seg.lines if line.strip()]
    keys = [line_key(line) for line in filled]
    if not keys or not all(is_closer(line) for line in filled) or block.end < lo:
        return None
    if planner.keys[block.end : block.end + len(keys)] != keys:
        return None
    shifted = [block.shift(line) for line in filled]
    return Placement(block.end, block.end + len(keys), shifted, [], block.shift, 0)


def _enclosing(planner: Planner, seg: Segment, later: list[Segment], lo: int) -> Placement | None:
    """A header that recurs (`emit(value) {` in two classes, perhaps with its `{` on a line of its own, or
    a parameter list over several lines), followed by a marker deeper than it: the one of its places whose
    block holds where the next segment goes (or the first later one inside it that has one place), the
    nearest before it. A header of several lines must read there as shown, lines it deletes aside."""
    heads = [i for i, line in enumerate(seg.lines) if line.strip()]
    if not heads or seg.marker_after is None:
        return None
    first = seg.lines[heads[0]]
    keys = [line_key(seg.lines[i]) for i in heads]
    if indent_width(seg.marker_after) <= indent_width(first):
        return None
    after = None
    for following in later:
        if _width(following) <= indent_width(first):
            break  # out of the header's block
        found = planner.locate(following.lines, lo, None)
        if isinstance(found, Placement):
            after = found
            break
    if after is None:
        return None
    one_line = all(key in OPENERS for key in keys[1:])
    for j in reversed(planner.occurrences(keys[0], lo)):
        end = planner.block_end(j) if j < after.start else None
        if end is None or end < after.end - 1:
            continue
        if one_line:
            if planner.keys[j : j + len(keys)] != keys:
                continue
            shift = Shift.between(planner.lines[j], first)
            pairs = [(i, j + i) for i in range(len(heads))]
            return Placement(j, j + len(heads), [shift(seg.lines[i]) for i in heads], pairs, shift, 1)
        place = planner.through(seg.lines, heads[0], j, lo)
        if place is None or place.end > after.start:
            return None
        shown = {i for i, _ in place.pairs}
        return place if all(i in shown for i in heads if not is_trivial(line_key(seg.lines[i]))) else None
    return None


def _contextless(
    planner: Planner, seg: Segment, number: int, count: int, lo: int, inside: OpenBlock | None
) -> Placement | None:
    """Place a segment none of whose lines exist in the original: by its position among the markers."""
    lines = planner.lines
    if inside is not None:
        shifted = [inside.shift(line) for line in seg.lines]
        last = len(shifted)
        if lo <= inside.end + 1 - last and shifted == lines[inside.end + 1 - last : inside.end + 1]:
            return Placement(inside.end + 1 - last, inside.end + 1, shifted, [], inside.shift, 0)  # its end
        if all(is_trivial(line_key(line)) or is_closer(line) for line in shifted if line.strip()):
            return _closers_inside(planner, shifted, lo, inside)
        filled = [line for line in shifted if line.strip()]
        if all(planner.loose.has(line_key(line)) for line in filled):
            return _known_inside(planner, shifted, lo, inside)  # lines of the file, not new ones
        closer = is_closer(lines[inside.end])
        at = max(inside.end if closer else inside.end + 1, lo)
        tail = next((line for line in reversed(shifted) if line.strip()), "")
        if (
            closer
            and at == inside.end
            and line_key(tail) == line_key(lines[at])
            and indent_width(tail) == indent_width(lines[at])
        ):
            return Placement(at, at + 1, shifted, [], inside.shift, 0)
        return Placement(at, at, shifted, [], inside.shift, 0)
    signed = planner.by_signature(seg.lines, lo)
    if signed is not None:
        return signed
    if number == 0 and seg.marker_before is None and seg.marker_after is not None:
        return Placement(0, 0, seg.lines, [], Shift(), 0)
    if number == count - 1 and seg.marker_after is None and seg.marker_before is not None:
        return Placement(len(lines), len(lines), seg.lines, [], Shift(), 0)
    return None


_CLOSERS_DELETE = 3
"""Most filled original lines a segment of closers alone may delete between two runs of them."""


def _closers_inside(planner: Planner, shifted: list[str], lo: int, inside: OpenBlock) -> Placement | None:
    """Closers alone inside an open block, not its end (`}` at 12, `}` at 8, `}` at 8, `}` at 4): two runs
    of them standing in the block exactly as shown, indentation and all, with up to 3 lines between that
    the snippet deletes, no shallower than the closers around them; None unless that fits one place only
    (the closers in one run, deleting nothing, count as a place too)."""
    shown = [line.rstrip() for line in shifted if line.strip()]
    filled = [k for k in range(lo, inside.end + 1) if planner.keys[k]]
    text = [planner.lines[k].rstrip() for k in filled]
    places: set[tuple[int, int]] = set()
    for cut in range(1, len(shown) + 1):
        head, tail = shown[:cut], shown[cut:]
        floor = min(indent_width(head[-1]), indent_width(tail[0])) if tail else 0
        for at in range(len(text) - len(shown) + 1):
            if text[at : at + cut] != head:
                continue
            for gap in range(_CLOSERS_DELETE + 1) if tail else (0,):
                rest = at + cut + gap
                if (
                    text[rest : rest + len(tail)] == tail
                    and rest + len(tail) <= len(text)
                    and all(indent_width(line) >= floor for line in text[at + cut : rest])
                ):
                    places.add((filled[at], filled[rest + len(tail) - 1] + 1))
    if len(places) != 1:
        return None
    start, end = places.pop()
    return Placement(start, end, list(shifted), [], inside.shift, 0)  # its blank tail: `_drop_blank_tail`


def _known_inside(planner: Planner, shifted: list[str], lo: int, inside: OpenBlock) -> Placement | None:
    """A segment whose lines the original has, loosely only or in several places: the one run of original
    lines inside the open block that reads as it does (spacing aside), or None."""
    mine = [loose(line) for line in shifted if line.strip()]
    theirs = planner.loose.every
    spots = []
    for start in range(lo, inside.end + 1):
        k, taken = start, 0
        while taken < len(mine) and k <= inside.end and (not theirs[k] or theirs[k] == mine[taken]):
            taken += bool(theirs[k])
            k += 1
        if taken == len(mine) and theirs[start]:
            spots.append((start, k))
    if len(spots) != 1:
        return None
    start, end = spots[0]
    return Placement(start, end, shifted, [], inside.shift, 0)


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
