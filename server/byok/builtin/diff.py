"""Line-sequence alignment shared by the built-in models: a patience diff with a difflib fallback.

Patience anchoring (lines unique on both sides, longest increasing run) keeps large inputs fast and
stops blank lines or lone braces from pulling the alignment apart; small gaps without unique lines are
aligned by `difflib.SequenceMatcher`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
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
    if head:
        size = _common_run(a, alo, b, blo, min(ahi - alo, bhi - blo), 1)
        alo += size
        blo += size
    if alo > start_a:
        out.append((start_a, start_b, alo - start_a))
    tail = _common_run(a, ahi - 1, b, bhi - 1, min(ahi - alo, bhi - blo), -1) if foot else 0
    ahi -= tail
    bhi -= tail
    if alo < ahi and blo < bhi:
        anchors = _unique_anchors(a, alo, ahi, b, blo, bhi)
        if anchors:
            pi, pj = alo, blo
            for number, (i, j) in enumerate(anchors):
                if i < pi:
                    continue  # inside the equal run that follows the previous anchor
                if i > pi and j > pj:
                    _blocks(a, pi, i, b, pj, j, out, head or number > 0, True)
                run = 1 + _common_run(a, i + 1, b, j + 1, min(ahi - i, bhi - j) - 1, 1)
                out.append((i, j, run))
                pi, pj = i + run, j + run
            if ahi > pi and bhi > pj:
                _blocks(a, pi, ahi, b, pj, bhi, out, True, foot)
        elif (ahi - alo) * (bhi - blo) <= _SMALL:
            matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            out.extend((alo + i, blo + j, size) for i, j, size in matcher.get_matching_blocks()[:-1])
    if tail:
        out.append((ahi, bhi, tail))


def _common_run(a: Sequence[str], i: int, b: Sequence[str], j: int, limit: int, step: int) -> int:
    """How many lines from `a[i]` and `b[j]` on (backwards when `step` is -1) are equal, at most `limit`:
    compared in galloping slices, so a long equal run costs a few list comparisons, not a loop per line."""
    size, probe = 0, 1
    while size < limit:
        probe = min(probe, limit - size)
        if step > 0:
            same = a[i + size : i + size + probe] == b[j + size : j + size + probe]
        else:
            same = a[i - size - probe + 1 : i - size + 1] == b[j - size - probe + 1 : j - size + 1]
        if same:
            size += probe
            probe *= 2
        elif probe == 1:
            break
        else:
            probe = 1
    return size


def _unique_anchors(
    a: Sequence[str], alo: int, ahi: int, b: Sequence[str], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Lines occurring once in each range, as the longest run increasing on both sides."""
    count_a, count_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    unique = {line for line, count in count_a.items() if count == 1 and count_b.get(line) == 1}
    if not unique:
        return []
    in_a = {a[i]: i for i in range(alo, ahi) if a[i] in unique}
    pairs = [(in_a[b[j]], j) for j in range(blo, bhi) if b[j] in unique]
    if all(pairs[k][0] < pairs[k + 1][0] for k in range(len(pairs) - 1)):
        return pairs  # increasing on both sides already (the usual case: few lines moved)
    pairs.sort()
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
