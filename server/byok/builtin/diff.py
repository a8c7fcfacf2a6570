"""Line-sequence alignment shared by the built-in models: a patience diff with a difflib fallback.

Patience anchoring (lines unique on both sides, longest increasing run) keeps large inputs fast and
stops blank lines or lone braces from pulling the alignment apart; small gaps without unique lines are
aligned by `difflib.SequenceMatcher`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from difflib import SequenceMatcher

Block = tuple[int, int, int]
"""An equal run: `a[i:i+size] == b[j:j+size]` as `(i, j, size)`."""

_SMALL = 250_000
"""Largest gap (lines of a times lines of b) handed to SequenceMatcher when no unique line anchors it."""


def matching_blocks(
    a: Sequence[str], b: Sequence[str], *, head: bool = True, foot: bool = True
) -> list[Block]:
    """Equal runs between `a` and `b`, in increasing order on both sides, adjacent runs merged.

    `head=False` (`foot=False`) is for aligning `a` inside a larger `b`: the starts (ends) of the two are
    then not taken to correspond.
    """
    out: list[Block] = []
    _blocks(a, 0, len(a), b, 0, len(b), out, head, foot)
    merged: list[Block] = []
    for i, j, size in out:
        if size <= 0:
            continue
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            pi, pj, psize = merged[-1]
            merged[-1] = (pi, pj, psize + size)
        else:
            merged.append((i, j, size))
    return merged


def changed_ranges(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """The hunks turning `a` into `b`: `(i1, i2, j1, j2)` meaning `a[i1:i2]` becomes `b[j1:j2]`."""
    hunks: list[tuple[int, int, int, int]] = []
    pi = pj = 0
    for i, j, size in [*matching_blocks(a, b), (len(a), len(b), 0)]:
        if i > pi or j > pj:
            hunks.append((pi, i, pj, j))
        pi, pj = i + size, j + size
    return hunks


def _blocks(
    a: Sequence[str],
    alo: int,
    ahi: int,
    b: Sequence[str],
    blo: int,
    bhi: int,
    out: list[Block],
    head: bool = True,
    foot: bool = True,
) -> None:
    """Equal runs of a[alo:ahi] and b[blo:bhi]; `head`/`foot`: the ranges' starts/ends are aligned."""
    start_a, start_b = alo, blo
    while head and alo < ahi and blo < bhi and a[alo] == b[blo]:
        alo += 1
        blo += 1
    if alo > start_a:
        out.append((start_a, start_b, alo - start_a))
    tail = 0
    while foot and alo < ahi - tail and blo < bhi - tail and a[ahi - 1 - tail] == b[bhi - 1 - tail]:
        tail += 1
    ahi -= tail
    bhi -= tail
    if alo < ahi and blo < bhi:
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if anchors:
            pi, pj = alo, blo
            for number, (i, j) in enumerate(anchors):
                _blocks(a, pi, i, b, pj, j, out, head or number > 0, True)
                out.append((i, j, 1))
                pi, pj = i + 1, j + 1
            _blocks(a, pi, ahi, b, pj, bhi, out, True, foot)
        elif (ahi - alo) * (bhi - blo) <= _SMALL:
            matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            out.extend((alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks()[:-1])
    if tail:
        out.append((ahi, bhi, tail))


def _unique_anchors(
    a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Lines occurring once in each range, as the longest run increasing on both sides."""
    in_a: dict[str, int] = {}
    for i in range(alo, ahi):
        line = a[i]
        in_a[line] = -1 if line in in_a else i
    in_b: dict[str, int] = {}
    for j in range(blo, bhi):
        line = b[j]
        if in_a.get(line, -1) >= 0:
            in_b[line] = -1 if line in in_b else j
    pairs = sorted((in_a[line], j) for line, j in in_b.items() if j >= 0)
    if not pairs:
        return []
    # Longest increasing subsequence on j (pairs are sorted on i).
    tails: list[int] = []
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[pos] = j
            tail_idx[pos] = k
        prev[k] = tail_idx[pos - 1] if pos else -1
    chain: list[tuple[int, int]] = []
    k = tail_idx[-1]
    while k >= 0:
        chain.append(pairs[k])
        k = prev[k]
    chain.reverse()
    return chain
