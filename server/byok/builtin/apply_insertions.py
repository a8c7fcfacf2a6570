"""The built-in Apply model's guard against lookalike insertions placed as replacements.

A chat model that adds a new definition shows it with a little context: the tail of the definition before
it, or the head of the one after. When the new definition is a near-copy of an existing one, its body
aligns with that one, and the placement would overwrite (or delete) original definitions the snippet never
mentions. Such a placement is re-done from the context lines alone, with the new definition inserted
beside them; when the context cannot place it, the segment is left unresolved rather than guessed.
"""

from __future__ import annotations

from byok.builtin.apply_lines import block_end, definition_name, indent_width, is_trivial, line_key
from byok.builtin.apply_planner import Planner
from byok.builtin.apply_segments import Placement, Segment, Shift


def drops_definitions(planner: Planner, place: Placement) -> bool:
    """Whether the placement brings a definition (one of a name the original lacks, or an unmatched
    header of one beside an original definition it removes) while removing, unmatched, an original
    definition the segment does not name."""
    names = {name for line in place.lines if (name := definition_name(line)) is not None}
    shown = {i for i, _ in place.pairs}
    unmatched = {
        indent_width(line)
        for i, line in enumerate(place.lines)
        if i not in shown and definition_name(line) is not None
    }
    undefined = any(not _defines(planner, name) for name in names)
    if undefined or unmatched:
        matched = {j for _, j in place.pairs}
        if any(
            j not in matched
            and (name := definition_name(planner.lines[j])) is not None
            and name not in names
            and (undefined or indent_width(planner.lines[j]) in unmatched)
            and _defines(planner, name)
            for j in range(place.start, place.end)
        ):
            return True
    return _copies_body(planner, place, names)


def unpair_stray_closers(planner: Planner, place: Placement) -> None:
    """Unpair the closers (`}`, `end`) a placement matched last when they reach past an original
    definition of a name the segment does not show, across new lines: a new definition's closers matched
    onto those of the one after it, which would delete that one. The placement ends at its last matched
    line before that definition; the original lines after it stay."""
    pairs = sorted(place.pairs)
    tail = len(pairs)
    while tail and is_trivial(line_key(place.lines[pairs[tail - 1][0]])):
        tail -= 1
    names = {name for line in place.lines if (name := definition_name(line)) is not None}
    for at in range(max(tail - 1, 0), len(pairs) - 1):
        (i0, j0), (i1, j1) = pairs[at], pairs[at + 1]
        if all(is_trivial(line_key(line)) for line in place.lines[i0 + 1 : i1]):
            continue  # nothing new between: lines the snippet deletes
        if any(
            (name := definition_name(planner.lines[j])) is not None and name not in names
            for j in range(j0 + 1, j1)
        ):
            place.pairs = pairs[: at + 1]
            place.end = j0 + 1
            return


def _copies_body(planner: Planner, place: Placement, names: set[str]) -> bool:
    """Whether a new definition's unmatched header (of a name the original lacks, or a header line it
    lacks) comes with body lines matched inside an original definition of another name: a near-copy of
    that definition, not an edit of it."""
    matched = dict(place.pairs)
    kept = set(matched.values())
    for head, line in enumerate(place.lines):
        name = definition_name(line)
        if name is None or head in matched or _in_original(planner, line):
            continue
        last = block_end(place.lines, head) or head
        body = sorted(j for i, j in place.pairs if head < i <= last)
        if not body:
            continue
        width = indent_width(line)
        for j in range(body[0] - 1, max(-1, body[0] - 2000), -1):
            text = planner.lines[j]
            if text.strip() not in ("", "{") and indent_width(text) <= width:
                owner = definition_name(text)
                if owner is not None and owner != name and (owner not in names or j not in kept):
                    return True  # the body of a definition the snippet does not show as kept there
                break
    return False


def insertion_by_context(planner: Planner, seg: Segment, lo: int, headers: bool = False) -> Placement | None:
    """Place the segment's new definition beside the context lines around it, placed on their own. The new
    definition defines a name the original lacks; with `headers`, one whose header line it lacks, or
    whose block holds lines it lacks, will do (a second `__init__`)."""
    lines = seg.lines

    def new_definition(i: int, line: str) -> bool:
        name = definition_name(line)
        if name is None or not _defines(planner, name):
            return name is not None
        if not headers:
            return False
        block = lines[i : (block_end(lines, i) or i) + 1]
        return any(text.strip() and not _in_original(planner, text) for text in block)

    head = next((i for i, line in enumerate(lines) if new_definition(i, line)), None)
    if head is None:
        return None
    last = block_end(lines, head) or head
    before = _trim(lines[:head])
    after_start = last + 1
    while after_start < len(lines) and not lines[after_start].strip():
        after_start += 1
    after = lines[after_start:]
    if before:
        found = planner.locate(before, lo, None)
        if isinstance(found, Placement) and found.start >= lo:
            rest = [found.shift(line) for line in lines[len(before) :]]
            return Placement(
                found.start, found.end, found.lines + rest, found.pairs, found.shift, found.score
            )
    plain = planner.by_plain_context(lines, lo)
    if plain is not None:
        return plain
    if after and any(line.strip() for line in after):
        found = planner.locate(after, lo, None)
        if isinstance(found, Placement) and found.start >= lo:
            new = [found.shift(line) for line in lines[:after_start]]
            pairs = [(i + after_start, j) for i, j in found.pairs]
            return Placement(found.start, found.end, new + found.lines, pairs, found.shift, found.score)
        shown = _trim(after)
        spots = [
            k
            for k in planner.occurrences(line_key(shown[0]), lo)
            if [line.rstrip() for line in planner.lines[k : k + len(shown)]] == [x.rstrip() for x in shown]
        ]
        if len(spots) == 1:  # plain lines after it (`1;`, `}`) that stand once, exactly as shown
            k = spots[0]
            return Placement(k, k + len(shown), lines[:after_start] + shown, [], Shift(), 0)
    return None


def _trim(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _in_original(planner: Planner, line: str) -> bool:
    """Whether the original has the line, as it is or loosely (other spacing, no trailing comment)."""
    key = line_key(line)
    return key in planner.index or planner.loose.has(key)


def _defines(planner: Planner, name: str) -> bool:
    """Whether some original line defines `name`."""
    return any(name in line and definition_name(line) == name for line in planner.lines)
