"""The built-in Apply model's planner: where each snippet segment goes in the original file."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from functools import cached_property
from itertools import pairwise

from rapidfuzz import fuzz, process

from byok.builtin.apply_gaps import OPENERS, closes_before, goes_on_alike, orphans_close, same_owner
from byok.builtin.apply_lines import (
    block_end,
    definition_name,
    goes_on,
    indent_width,
    is_closer,
    is_similar,
    is_trivial,
    line_key,
)
from byok.builtin.apply_loose import LooseLines, loose
from byok.builtin.apply_segments import OpenBlock, Placement, Segment, Shape, Shift
from byok.builtin.diff import matching_blocks
from byok.builtin.syntax import Syntax

_MAX_CANDIDATES = 40


_RARE = 3
"""Places a segment line may have to serve as one more anchor."""

_MORE_ANCHORS = 2

_TELLING_LENGTH = 12
"""Shortest line that, found once in the file, places a segment by itself over lines found in several places."""

_WHOLE_RUN = 3
"""Least lines a segment matched whole, in a row, at one place only needs to be placed there by one line."""

_FAR_GAP = 10
"""Original lines a match may skip beyond the new lines before it: more is a lookalike elsewhere."""

_SHELL_CLOSERS = frozenset(("fi", "done", "esac", "fi;", "done;"))

_PLAIN_RUN = 3
"""Least plain lines (closers) that place a segment by themselves, exactly as the original has them."""

_CLOSING_GAP = 8
"""Original lines a segment's closing lines may skip when it shows them right after a line it keeps."""

_FUZZY_SCORE = 90.0
"""Least rapidfuzz ratio (0-100) at which a segment line stands for an original line it does not equal."""

_FUZZY_LENGTH = 16
"""Shortest line (without whitespace and trailing comment) that may anchor a segment fuzzily."""


def _snug(place: Placement) -> tuple[bool, bool]:
    """Whether a placement's matched lines are all in a row (consecutive lines on consecutive lines), and
    whether they sit where they are indented as shown: of places that match as many lines, the one whose
    context reads exactly as shown."""
    pairs = sorted(place.pairs)
    in_row = all(i + 1 == k and j + 1 == m for (i, j), (k, m) in pairwise(pairs))
    return in_row, not place.shift.add and not place.shift.remove


def _adds_lines(place: Placement) -> bool:
    """Whether the placement brings lines the original lacks there (one that does not would change
    nothing: between it and a lookalike that deletes lines, nothing tells)."""
    matched = {i for i, _ in place.pairs}
    return any(line.strip() and i not in matched for i, line in enumerate(place.lines))


class Planner:
    """Places segments into the original, left to right."""

    def __init__(self, lines: list[str], syntax: Syntax | None = None) -> None:
        self.lines = lines
        self._syntax = syntax
        self._exact: dict[int, str] = {}
        self.keys = [line_key(line) for line in lines]
        self.loose = LooseLines(self.keys)

    @cached_property
    def index(self) -> dict[str, list[int]]:
        """Original line numbers by key, built on first use (a whole-file snippet never needs it)."""
        index: dict[str, list[int]] = {}
        for number, key in enumerate(self.keys):
            index.setdefault(key, []).append(number)
        return index

    def _likely(self, keys: list[str], anchor: int, spots: list[int]) -> list[int]:
        """The candidate places worth aligning: those where the most segment lines occur nearby (all
        tied ones, up to a limit, so a tie can still be reported)."""
        distinct = {key for key in keys if not is_trivial(key)}
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

    def block_end(self, header: int) -> int | None:
        """Last line of the block original line `header` opens: by the grammar when it can tell, else by
        indentation and closers."""
        if self._syntax is not None and (end := self._syntax.block_end(header)) is not None:
            return end
        return block_end(self.lines, header)

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

    def locate(self, seg: list[str], lo: int, inside: OpenBlock | None) -> Placement | str | None:
        """Best placement of `seg` at or after line `lo`; "ambiguous" on a tie; None without context."""
        keys = [line_key(line) for line in seg]
        found = self._locate(seg, keys, lo, inside)
        near = (
            (found.start - len(seg) - 20, found.end + len(seg) + 20) if isinstance(found, Placement) else None
        )
        loosely = self.loose.match_keys(keys, self.index, near)
        if loosely == keys:
            return found
        again = self._locate(seg, loosely, lo, inside)
        if again is None and isinstance(found, Placement):
            return None  # read loosely, its lines point elsewhere as strongly: no place is sure
        return again or found

    def _locate(
        self, seg: list[str], keys: list[str], lo: int, inside: OpenBlock | None
    ) -> Placement | str | None:
        found_places: dict[tuple[int, int], Placement] = {}
        primary, extra = self._anchors(keys, lo)
        for pairs in (primary, extra):
            for anchor, spot in pairs:
                place = self._align(seg, keys, anchor, spot, lo)
                if place is not None:
                    known = found_places.get((place.start, place.end))
                    if known is None or known.score < place.score:
                        found_places[(place.start, place.end)] = place
            if any(place.score > 1 for place in found_places.values()):
                break
        if not found_places:
            return None

        def rank(place: Placement) -> tuple[int, int, int]:
            within = inside is not None and place.start <= inside.end
            closes = inside is not None and place.end == inside.end + 1  # it ends with the block's end
            return place.score, int(within), int(closes)

        ranked = sorted(found_places.values(), key=lambda place: (rank(place), _snug(place)), reverse=True)
        if len(ranked) > 1 and rank(ranked[0]) == rank(ranked[1]):
            tied = [place for place in ranked if rank(place) == rank(ranked[0])]
            echoes = [self._echoes(place) for place in tied] if ranked[0].score > 1 else [0]
            if max(echoes) and echoes.count(max(echoes)) == 1:
                return tied[echoes.index(max(echoes))]
            level = [place for place in tied if self._as_indented(place)]
            if len(level) == 1 and ranked[0].score > 1:
                return level[0]
            shown = sum(1 for line in seg if line.strip())
            whole = [place for place in tied if len(place.pairs) == shown and _snug(place) == (True, True)]
            if len(whole) == 1 and (ranked[0].score > 1 or shown >= _WHOLE_RUN):
                return whole[0]  # the one place holding every line of it in a row as indented, closers too
            weak = ranked[0].score <= 1 and not _snug(ranked[0])[0]  # one line, no run to tell by
            # a place that changes nothing beside a lookalike that deletes lines: nothing tells (all in a
            # row, none deletes: the one where the lines stand as indented as shown)
            deletes = not all(_snug(place)[0] for place in tied)
            if (
                weak
                or _snug(ranked[0]) == _snug(ranked[1])
                or (deletes and not all(_adds_lines(place) for place in tied))
            ):
                if ranked[0].score > 1:
                    return "ambiguous"
                telling = [place for place in tied if any(self._telling(j) for _, j in place.pairs)]
                return telling[0] if len(telling) == 1 else None
        return ranked[0]

    def _as_indented(self, place: Placement) -> bool:
        """Whether every matched line stands in the original as indented as the placement shows it."""
        return all(indent_width(place.lines[i]) == indent_width(self.lines[j]) for i, j in place.pairs)

    def _telling(self, number: int) -> bool:
        """Whether original line `number` is one the file has once and long enough to tell a place by: of
        places one line each, the one of such a line beats lines the file has in several places."""
        key = self.keys[number]
        return len(key) >= _TELLING_LENGTH and len(self.index[key]) == 1

    def _echoes(self, place: Placement) -> int:
        """How many of a placement's unmatched lines read as edited versions of the original lines they
        stand against (counted from the nearest matched line): of places a segment's context fits alike,
        the one whose line the snippet edits is there."""
        pairs = sorted(place.pairs)
        matched = {i for i, _ in pairs}
        total = 0
        for i, line in enumerate(place.lines):
            if i in matched or not line.strip():
                continue
            before = [(k, j) for k, j in pairs if k < i]
            k, j = before[-1] if before else pairs[0]
            at = j + i - k
            total += (
                place.start <= at < place.end
                and self.keys[at] != line_key(line)
                and is_similar(line, self.lines[at])
            )
        return total

    def fuzzy_locate(self, seg: list[str], lo: int) -> Placement | None:
        """Place a segment none of whose lines the original has as they are, by a line that reads almost
        the same (whitespace or a comment changed): the one original line closest to one of its long lines,
        when no other original line comes as close to any of them."""
        loose_lines = self.loose.every[lo:]
        found: list[tuple[float, int, int]] = []
        for i, line in enumerate(seg):
            key = loose(line)
            if len(key) >= _FUZZY_LENGTH:
                hits = process.extract(
                    key, loose_lines, scorer=fuzz.ratio, score_cutoff=_FUZZY_SCORE, limit=2
                )
                found.extend((score, i, lo + j) for _, score, j in hits)
        if not found:
            return None
        best = max(found)
        if any(score == best[0] and j != best[2] for score, _, j in found):
            return None  # as close to two original lines: a guess
        _, anchor, spot = best
        return self.through(seg, anchor, spot, lo)

    def through(self, seg: list[str], anchor: int, spot: int, lo: int) -> Placement | None:
        """The placement of `seg` aligned through its line `anchor` standing at original line `spot`."""
        return self._align(seg, [line_key(line) for line in seg], anchor, spot, lo)

    def _anchors(self, keys: list[str], lo: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(segment line, original line) pairs to align through: every place of the rarest segment line;
        then, for when those places hold that line alone (a lookalike the rest does not follow), the
        places of up to two more rare lines."""
        ranked = sorted(
            (len(found), i, found)
            for i, key in enumerate(keys)
            if not is_trivial(key) and (found := self.occurrences(key, lo))
        )
        if not ranked:
            return [], []
        count, anchor, spots = ranked[0]
        if count > 3:
            return [(anchor, spot) for spot in self._likely(keys, anchor, spots)], []
        pairs: list[tuple[int, int]] = []
        seen = {keys[anchor]}
        for count, i, found in ranked[1:]:
            if count > _RARE or len(seen) > _MORE_ANCHORS:
                break
            if keys[i] not in seen:
                seen.add(keys[i])
                pairs.extend((i, spot) for spot in found)
        return [(anchor, spot) for spot in spots], pairs

    def _align(self, seg: list[str], keys: list[str], anchor: int, spot: int, lo: int) -> Placement | None:
        m, n = len(seg), len(self.lines)
        wlo = max(lo, spot - 3 * anchor - 50)
        whi = min(n, spot + 3 * (m - anchor) + 200)
        blank_free = [key or f"\0{i}" for i, key in enumerate(keys)]
        pairs = self._pairs(seg, blank_free, self.keys, wlo, whi, anchor, spot)
        first = next((p for p in pairs if not is_trivial(keys[p[0]])), pairs[0])
        shift = Shift.between(self.lines[first[1]], seg[first[0]])
        delta = indent_width(self.lines[first[1]]) - indent_width(seg[first[0]])
        exact_keys = [
            f"{indent_width(line) + delta}|{key}" if key else f"\0{i}"
            for i, (line, key) in enumerate(zip(seg, keys, strict=True))
        ]
        if line_key(shift(seg[anchor])) == self.keys[spot] and indent_width(
            shift(seg[anchor])
        ) == indent_width(self.lines[spot]):
            strict_pairs = self._pairs(seg, exact_keys, self.exact_keys(wlo, whi), wlo, whi, anchor, spot)
            if 5 * self._score(strict_pairs, keys) >= 3 * self._score(pairs, keys):
                pairs = strict_pairs
        new = [shift(line) for line in seg]
        start, end = pairs[0][1], pairs[-1][1] + 1
        first_seg, last_seg = pairs[0][0], pairs[-1][0]
        if first_seg <= start - lo and all(
            keys[k] == self.keys[start - first_seg + k] for k in range(first_seg)
        ):
            start, first_seg = start - first_seg, 0
        if m - 1 - last_seg <= n - end and all(
            keys[last_seg + 1 + k] == self.keys[end + k] for k in range(m - 1 - last_seg)
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
            if before >= lo and any(is_similar(new[k], self.lines[before]) for k in (0, first_seg - 1)):
                start = before
                head = first_seg - 1  # the lines before an edited line: the original's lines before it?
                if "".join(new[head].split()) == "".join(self.lines[before].split()):
                    pairs = [(head, before), *pairs]  # the original's line, spaced otherwise: it opens blocks
                if (
                    is_similar(new[head], self.lines[before])
                    and start - head >= lo
                    and all(line_key(new[k]) == self.keys[start - head + k] for k in range(head))
                ):
                    start -= head
        if last_seg < m - 1:
            after = end
            while after < n and not self.lines[after].strip():
                after += 1
            if after < n and any(is_similar(new[k], self.lines[after]) for k in (m - 1, last_seg + 1)):
                end = after + 1
                rest = m - 2 - last_seg  # the lines after an edited line: the original's lines after it?
                if (
                    is_similar(new[last_seg + 1], self.lines[after])
                    and end + rest <= n
                    and all(line_key(new[last_seg + 2 + k]) == self.keys[end + k] for k in range(rest))
                ):
                    end += rest
        return Placement(start, end, new, pairs, shift, self._score(pairs, keys))

    def exact_keys(self, lo: int, hi: int) -> dict[int, str]:
        """Keys carrying the indentation width for original lines `[lo, hi)`, computed once per line."""
        exact = self._exact
        for number in range(lo, hi):
            if number not in exact:
                key = self.keys[number]
                exact[number] = f"{indent_width(self.lines[number])}|{key}" if key else ""
        return exact

    @staticmethod
    def _score(pairs: list[tuple[int, int]], keys: list[str]) -> int:
        return sum(1 for i, _ in pairs if not is_trivial(keys[i]))

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
        # the lines before the anchor are aligned backwards from it, so that of lookalike places the
        # nearest wins, as it does after the anchor
        before = matching_blocks(
            seg_keys[anchor - 1 :: -1] if anchor else [],
            [orig_keys[k] for k in range(spot - 1, wlo - 1, -1)],
            foot=False,
        )
        after = matching_blocks(
            seg_keys[anchor + 1 :], [orig_keys[k] for k in range(spot + 1, whi)], foot=False
        )
        head = [(anchor - i - size, spot - j - size, size) for i, j, size in reversed(before)]
        tail = [(i + anchor + 1, j + spot + 1, size) for i, j, size in after]

        def strength(block: tuple[int, int, int], closers: bool) -> int:
            """How well the block's lines tell a place; with `closers` False, lone closers (`end`, `</div>`)
            count for nothing (after new lines they may close the new code)."""
            total = 0
            for i in range(block[0], block[0] + block[2]):
                key = line_key(seg[i])
                if not is_trivial(key) and (closers or " " in key or not is_closer(seg[i])):
                    total += 2 if len(self.index.get(key, ())) == 1 and len(key) >= 12 else 1
            return total

        def keep(block: tuple[int, int, int], seg_gap: int, orig_gap: int, leading: bool = False) -> bool:
            if seg_gap > 0 and orig_gap > seg_gap + max(_FAR_GAP, 2 * seg_gap):
                return False  # new lines, then a lookalike far away: an insertion, not a deletion
            power = strength(block, seg_gap == 0)
            if power >= 2 or seg_gap == orig_gap == 0:
                return True
            if power == 1:
                return orig_gap <= seg_gap + 3
            lines = range(block[0], block[0] + block[2])
            if not leading and seg_gap == 0 and orphans_close(self.lines, self.keys, seg, block, orig_gap):
                return True
            if not all(same_owner(self.lines, self.keys, seg, i, block[1] + i - block[0]) for i in lines):
                return False
            if (
                leading
                and block[0] <= first_filled
                and closes_before(self.lines, self.keys, seg, block, seg_gap, orig_gap)
            ):
                return True
            plain = not any(is_closer(seg[i]) or line_key(seg[i]) in OPENERS for i in lines)
            if orig_gap and plain and not goes_on_alike(self.keys, seg, block):
                return False  # plain lines (`*/`, `);`) amid lines the original lacks: anywhere
            return orig_gap <= seg_gap or (
                seg_gap == 0
                and orig_gap <= _CLOSING_GAP
                and block[0] + block[2] > last_filled
                and all(is_closer(seg[i]) for i in lines)
                and all(
                    not self.keys[k]
                    or indent_width(self.lines[k]) > indent_width(self.lines[block[1]])
                    or (
                        indent_width(self.lines[k]) == indent_width(self.lines[block[1]])
                        and goes_on(self.lines[k])
                    )
                    for k in range(block[1] - orig_gap, block[1])
                )
            )  # the snippet's closers right after a line it keeps: the lines between, inside their block (an
            # `} else {` of it too), go

        last_filled = max((i for i, line in enumerate(seg) if line.strip()), default=0)
        first_filled = min((i for i, line in enumerate(seg) if line.strip()), default=0)

        kept = [(anchor, spot, 1)]
        for block in tail:
            prev = kept[-1]
            if keep(block, block[0] - prev[0] - prev[2], block[1] - prev[1] - prev[2]):
                kept.append(block)
        for block in reversed(head):
            nearest = kept[0]
            if keep(block, nearest[0] - block[0] - block[2], nearest[1] - block[1] - block[2], True):
                kept.insert(0, block)
        return [(i + k, j + k) for i, j, size in kept for k in range(size)]

    def complete_blocks(self, place: Placement, seg: Segment) -> None:
        """Stretch the placement over whole original blocks whose header the segment closes.

        A segment holds the complete block of one of its lines when the block visibly ends inside the
        segment, or the snippet ends with it. When a marker follows, the block is complete unless the
        marker is deeper than the header or the segment's last line is an original line from the middle
        of the block (the marker then elides the block's rest).
        """
        shape = Shape(place.lines)
        matched = dict(place.pairs)
        marker = None if seg.marker_after is None else len(seg.marker_after.expandtabs(4))
        for i, j in place.pairs:
            if not shape.deeper[i]:
                continue
            end = self.block_end(j)
            if end is None or end + 1 <= place.end:
                continue
            after = shape.ends[i]
            if marker is not None and (after is None or _unclosed_brace(place.lines, i, after)):
                if marker > shape.widths[i]:
                    continue
                where = matched.get(shape.last)
                if where is not None and j < where < end:
                    continue
            place.end = end + 1

    def open_blocks(self, place: Placement, seg: Segment) -> list[OpenBlock]:
        """Blocks the segment opens but leaves to a later segment (a marker deeper than the header follows)."""
        if seg.marker_after is None:
            return []
        marker = len(seg.marker_after.expandtabs(4))
        shape = Shape(place.lines)
        opened: list[OpenBlock] = []
        for i, j in place.pairs:
            if shape.ends[i] is None and place.lines[i].strip() and shape.widths[i] < marker:
                end = self.block_end(j)
                if end is not None:
                    opened.append(OpenBlock(indent_width(seg.lines[i]), end, place.shift))
        return opened

    def by_plain_context(self, seg: list[str], lo: int) -> Placement | None:
        """Place a segment that opens with at least three plain lines (`}`, `fi`, `end`) followed by a
        new line by where those lines stand in the original exactly as they are (indentation too), when
        that is one place only."""
        run = 0
        while (
            run < len(seg)
            and seg[run].strip()
            and (is_trivial(key := line_key(seg[run])) or is_closer(seg[run]) or key in _SHELL_CLOSERS)
        ):
            run += 1
        following = next((line_key(line) for line in seg[run:] if line.strip()), None)
        if run < _PLAIN_RUN or following is None or following in self.index:
            return None
        shown = [line.rstrip() for line in seg[:run]]
        spots = [
            k
            for k in self.occurrences(line_key(seg[0]), lo)
            if [line.rstrip() for line in self.lines[k : k + run]] == shown
        ]
        if len(spots) != 1:
            return None
        pairs = [(i, spots[0] + i) for i in range(run)]
        return Placement(spots[0], spots[0] + run, list(seg), pairs, Shift(), 0)

    def by_signature(self, seg: list[str], lo: int) -> Placement | None:
        """Place a segment with no matching line by the definition it starts with, or, for a one-line
        segment, by the one original line it is an edited version of."""
        heads = [i for i, line in enumerate(seg) if line.strip()]
        if not heads:
            return None
        head = heads[0]
        name = definition_name(seg[head])
        if name is not None:
            spots = [
                j
                for j in range(lo, len(self.lines))
                if name in self.lines[j] and definition_name(self.lines[j]) == name
            ]
        elif len(heads) == 1:
            spots = [j for j in range(lo, len(self.lines)) if is_similar(seg[head], self.lines[j])]
        else:
            return None
        if len(spots) != 1:
            return None
        shift = Shift.between(self.lines[spots[0]], seg[head])
        return Placement(spots[0], spots[0] + 1, [shift(line) for line in seg], [(head, spots[0])], shift, 1)


def _unclosed_brace(lines: list[str], header: int, after: int) -> bool:
    """Whether the line after a `{` header's block, by indentation, is no closer: text at the left edge
    inside the block (a string's lines), so the block does not visibly end in the segment."""
    return lines[header].rstrip().endswith("{") and not is_closer(lines[after])
