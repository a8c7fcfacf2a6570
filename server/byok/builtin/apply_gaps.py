"""The built-in Apply model's rules for plain lines (closers, a lone `{`) matched across original lines a
snippet does not show: whether they stand for those original lines, the lines between being deleted, or
only look like them."""

from __future__ import annotations

from byok.builtin.apply_lines import (
    block_owner,
    indent_width,
    is_closer,
    is_similar,
    is_trivial,
    line_key,
    statement_start,
)

OPENERS = frozenset(("{", "(", "[", "do", "then", "begin"))
"""Lines that only open a block whose header is the line above."""

_DELETED_AFTER_CLOSERS = 3
"""Most (filled) original lines plain lines matched across a gap may delete (after the closers a segment
opens with, or before closers whose openers went)."""


def closes_before(
    lines: list[str],
    keys: list[str],
    seg: list[str],
    block: tuple[int, int, int],
    seg_gap: int,
    orig_gap: int,
) -> bool:
    """Whether the plain lines a segment opens with (closers, `/*`), then (blank lines aside) the line it
    is placed by, leave out a few original lines between them no shallower than those (or closers
    themselves): lines the snippet deletes."""
    i, j = block[0] + block[2], block[1] + block[2]
    width = indent_width(seg[i - 1])
    return (
        all(is_closer(seg[k]) or is_trivial(line_key(seg[k])) for k in range(block[0], i))
        and 0 < sum(1 for k in range(j, j + orig_gap) if keys[k]) <= _DELETED_AFTER_CLOSERS
        and not any(seg[k].strip() for k in range(i, i + seg_gap))
        and all(
            not keys[k] or indent_width(lines[k]) >= width or is_closer(lines[k])
            for k in range(j, j + orig_gap)
        )
    )


def orphans_close(
    lines: list[str], keys: list[str], seg: list[str], block: tuple[int, int, int], orig_gap: int
) -> bool:
    """Whether a block of closers right after a kept line that opens nothing, no shallower than it (so
    they close no block the snippet shows: their openers were deleted with it), stand in the original
    as they stand to that line, a few lines no shallower than it after it: the lines between go."""
    i, j = block[0], block[1]
    kept, theirs = seg[i - 1], lines[j - orig_gap - 1]
    if not kept.strip() or kept.rstrip()[-1:] in ("{", "(", "[") or indent_width(seg[i]) < indent_width(kept):
        return False
    between = [k for k in range(j - orig_gap, j) if keys[k]]
    return (
        0 < len(between) <= _DELETED_AFTER_CLOSERS
        and all(is_closer(seg[k]) for k in range(i, i + block[2]))
        and all(indent_width(lines[k]) >= indent_width(theirs) for k in between)
        and indent_width(seg[i]) - indent_width(kept) == indent_width(lines[j]) - indent_width(theirs)
    )


def goes_on_alike(keys: list[str], seg: list[str], block: tuple[int, int, int]) -> bool:
    """Whether the segment ends with the block, or its next filled line after it is the original's."""
    i, j = block[0] + block[2], block[1] + block[2]
    while i < len(seg) and not seg[i].strip():
        i += 1
    while j < len(keys) and not keys[j]:
        j += 1
    return i == len(seg) or (j < len(keys) and line_key(seg[i]) == keys[j])


def same_owner(lines: list[str], keys: list[str], seg: list[str], i: int, j: int) -> bool:
    """For a trivial line matched across a gap: a closer closes the same kind of block on both sides, a
    lone opener (`{`) opens the block of the same header (K&R-less C puts the header on the line above)."""
    if line_key(seg[i]) in OPENERS:
        mine_head = next((k for k in range(i - 1, -1, -1) if seg[k].strip()), None)
        theirs_head = next((k for k in range(j - 1, -1, -1) if keys[k]), None)
        return mine_head is None or (
            theirs_head is not None
            and (
                line_key(seg[mine_head]) == keys[theirs_head]
                or is_similar(seg[mine_head], lines[theirs_head])
            )
        )
    if not is_closer(seg[i]):
        return True
    mine = block_owner(seg, i)
    theirs = block_owner(lines, j)
    if mine is None or theirs is None:
        return mine is None

    def alike(mine: int, theirs: int) -> bool:
        return line_key(seg[mine]) == keys[theirs] or is_similar(seg[mine], lines[theirs])

    # `}` after `} else {` closes the `if`: the lines where the two statements start may tell
    return alike(mine, theirs) or alike(statement_start(seg, mine), statement_start(lines, theirs))
