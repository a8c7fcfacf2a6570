"""The built-in Apply model's placement of lone closing tags (`</div>`) by nesting: after a marker, a
closing tag closes the innermost element the segment before it left open, which the original's tags say
where it ends."""

from __future__ import annotations

import re

from byok.builtin.apply_lines import line_key
from byok.builtin.apply_segments import Placement, Segment, Shift

_CLOSING_TAG = re.compile(r"^</([A-Za-z][\w-]*)\s*>$")


def _balance(lines: list[str], name: str) -> int:
    """How many `<name>` elements the lines open and leave open."""
    opens = re.compile(rf"<{re.escape(name)}\b", re.IGNORECASE)
    closes = re.compile(rf"</{re.escape(name)}\s*>", re.IGNORECASE)
    return sum(len(opens.findall(line)) - len(closes.findall(line)) for line in lines)


def closing_tags(
    lines: list[str], keys: list[str], seg: Segment, before: tuple[int, int, list[str]], lo: int
) -> Placement | None:
    """Place a segment of closing tags of one element (`</div>`) right after a marker, when the segment
    placed before it (original lines `[start, end)`, its new lines) leaves that element open as the
    original's lines there do: the first tag closes the innermost one, where the original's nesting ends
    it; the others must follow it there as shown."""
    filled = [line_key(line) for line in seg.lines if line.strip()]
    tags = [_CLOSING_TAG.match(key) for key in filled]
    if seg.marker_before is None or not filled or any(tag is None for tag in tags):
        return None
    name = tags[0][1] if tags[0] else ""
    start, end, new = before
    left_open = _balance(new, name)
    if left_open <= 0 or left_open != _balance(lines[start:end], name):
        return None
    depth = left_open
    for k in range(end, len(lines)):
        depth += _balance([lines[k]], name)
        if depth < left_open:
            if k < lo or keys[k : k + len(filled)] != filled:
                return None
            return Placement(k, k + len(filled), lines[k : k + len(filled)], [], Shift(), 0)
    return None
