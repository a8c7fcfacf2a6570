"""The built-in Tab model: ghost-text completion from the open documents and the user's recent edits.

Everything is kept in incrementally updated indexes, so a keystroke costs work proportional to the lines
it changed, not to the workspace: a multiset of (indentation-stripped) lines with a sorted key list for
prefix lookup, the lines that followed and preceded each line, and the indentations each line was seen at.
A suggestion is, in order of preference: the same rename at the next occurrence (next-edit prediction,
after the user renamed an identifier in one place), the next step of an obvious sequence (`case 1:` then
`case 2:`), the rest of a line seen elsewhere with the same beginning, or the way lines that hold the typed
line's last tokens go on elsewhere. It says nothing when unsure: the line and fragment guesses are scored
(log-linear in their evidence) and shown only when they carry enough of the candidates' weight — the
thresholds were tuned on one half of a corpus of real packages and measured on the other (bench/tab.py).
Deterministic; no network.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, insort
from collections import Counter
from dataclasses import dataclass
from typing import Any

from byok.base.text import split_lines, utf16_len, utf16_to_index

__all__ = ["Suggestion", "TabModel"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\S")
_NUMBER = re.compile(r"\d+")
_SCAN_LIMIT = 400
_NEAR = 40
"""Lines within this many of the cursor are 'near' it."""
_FOLLOWS, _PRECEDES, _AT_INDENT, _NEARBY, _UNSEEN = 5.0, 5.0, 1.0, 1.0, 1.0
"""Weights of a candidate line's evidence (log-linear), and the weight of 'a line not seen before'."""
LINE_CONFIDENCE = 0.2
"""The least share of the candidates' weight a whole-line suggestion needs to be shown."""
SHORT_LINE_CONFIDENCE = 0.45
"""The same for a line whose typed text is shorter than `_SHORT` characters: many more lines begin so."""
_SHORT = 6
FRAGMENT_CONFIDENCE = 0.5
"""The least share of the endings seen after the typed fragment the shown ending needs."""
_FRAGMENT_TOKENS, _FRAGMENT_MIN_CHARS, _FRAGMENT_BASE, _SAME_DOCUMENT = 6, 3, 4.0, 2.0
"""A fragment is the typed line's last 1-6 tokens (at least 3 characters); an ending seen after k shared
tokens scores BASE**k, twice that in the same document."""
_SEQUENCE_REACH = 12
_COMMENT_STARTS = ("#", "//", "/*", "*", "<!--", "--", ";")
MAX_LEARNED_FILES, MAX_LEARNED_BYTES = 50, 4 * 1024 * 1024
"""The most nearby files (and their bytes) indexed besides the open documents."""


@dataclass
class Suggestion:
    """Text to insert over a range (the cursor itself for a plain insertion); LSP positions (UTF-16)."""

    text: str
    start_line: int
    start_character: int
    end_line: int
    end_character: int
    kind: str = "line"
    """Which behaviour produced it: rename, sequence, line, word or close."""


class _PrefixIndex:
    """A multiset of strings with prefix lookup: counts plus a sorted list of the distinct keys."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        count = self.counts.get(key, 0)
        if not count:
            insort(self.keys, key)
        self.counts[key] = count + 1

    def remove(self, key: str) -> None:
        count = self.counts.get(key, 0)
        if count <= 1:
            if count:
                del self.counts[key]
                del self.keys[bisect_left(self.keys, key)]
            return
        self.counts[key] = count - 1

    def starting_with(self, prefix: str, limit: int = _SCAN_LIMIT) -> list[str]:
        """Up to `limit` distinct keys beginning with `prefix`, in sorted order."""
        out: list[str] = []
        first = bisect_left(self.keys, prefix)
        for number in range(first, min(len(self.keys), first + limit)):
            key = self.keys[number]
            if not key.startswith(prefix):
                break
            out.append(key)
        return out


@dataclass
class _Rename:
    uri: str
    old: str
    new: str


class TabModel:
    """Ghost-text completion over the open documents; see the module docstring."""

    def __init__(self) -> None:
        self._docs: dict[str, list[str]] = {}
        self._learned: dict[str, int] = {}
        """Nearby files indexed without being open, oldest first, with their sizes."""
        self._texts: dict[str, str] = {}
        """Each document's whole text, for fragment lookups (`str.find` runs at C speed)."""
        self._doc_lines: dict[str, Counter[str]] = {}
        self._lines = _PrefixIndex()
        self._next: dict[str, Counter[str]] = {}
        self._previous: dict[str, Counter[str]] = {}
        self._indents: dict[str, Counter[int]] = {}
        self._editing: tuple[str, int, str] | None = None
        self._rename: _Rename | None = None

    # ------------------------------------------------------------------ document lifecycle

    def open(self, uri: str, text: str) -> None:
        """Start tracking a document."""
        if uri in self._docs:
            self.close(uri)
        self._learned.pop(uri, None)
        lines, _ = split_lines(text)
        self._docs[uri] = lines
        self._texts[uri] = text
        self._doc_lines[uri] = Counter()
        self._index(uri, lines, 0, len(lines), add=True)

    def open_uris(self) -> frozenset[str]:
        """The documents the editor has open (not the learnt nearby files)."""
        return frozenset(uri for uri in self._docs if uri not in self._learned)

    def learn(self, uri: str, text: str) -> None:
        """Index a file the editor does not have open (a nearby file) for its lines and fragments; the
        oldest learnt files are forgotten past `MAX_LEARNED_FILES` or `MAX_LEARNED_BYTES`."""
        if uri in self._docs and uri not in self._learned:
            return  # open in the editor: the editor's text wins
        self.open(uri, text)
        self._learned[uri] = len(text)
        while len(self._learned) > MAX_LEARNED_FILES or sum(self._learned.values()) > MAX_LEARNED_BYTES:
            self.close(next(iter(self._learned)))

    def close(self, uri: str) -> None:
        """Stop tracking a document and forget what it contributed."""
        lines = self._docs.pop(uri, None)
        self._texts.pop(uri, None)
        self._learned.pop(uri, None)
        if lines is None:
            return
        self._index(uri, lines, 0, len(lines), add=False)
        del self._doc_lines[uri]
        if self._rename is not None and self._rename.uri == uri:
            self._rename = None
        if self._editing is not None and self._editing[0] == uri:
            self._editing = None

    def change(self, uri: str, new_text: str, *, same_head: int = 0, same_tail: int = 0) -> None:
        """Take the full new text after a `didChange`; re-index only the changed lines, learn renames.

        `same_head` and `same_tail` (an incremental change knows them) are how many characters at the
        start and at the end of the text the edit left as they were: the lines there are not split and
        compared again, so a keystroke costs about the same in a long file as in a short one."""
        old = self._docs.get(uri)
        if old is None:
            self.open(uri, new_text)
            return
        new, start, tail = _relined(old, new_text, same_head, same_tail)
        self._texts[uri] = new_text
        limit = min(len(old), len(new))
        while start < limit and old[start] == new[start]:
            start += 1
        tail = min(tail, limit - start)
        while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        old_end, new_end = len(old) - tail, len(new) - tail
        if start == old_end == new_end:
            return
        # Bigrams touching the changed run: (line before, first changed) ... (last changed, line after).
        lo, hi = max(0, start - 1), min(len(old), old_end + 1)
        before = old[start] if old_end - start == 1 == new_end - start else None
        self._index(uri, old, start, old_end, add=False, pairs=(lo, hi))
        old[start:old_end] = new[start:new_end]
        self._index(uri, old, start, new_end, add=True, pairs=(lo, min(len(old), new_end + 1)))
        self._learn_edit(uri, old, start, before)

    def _index(
        self,
        uri: str,
        lines: list[str],
        start: int,
        end: int,
        *,
        add: bool,
        pairs: tuple[int, int] | None = None,
    ) -> None:
        doc = self._doc_lines[uri]
        step = 1 if add else -1
        for number in range(start, end):
            text = lines[number]
            key = text.strip()
            if not key:
                continue
            if add:
                self._lines.add(key)
            else:
                self._lines.remove(key)
            _count(doc, key, step)
            _count(self._indents.setdefault(key, Counter()), len(text) - len(text.lstrip()), step)
            if not self._indents[key]:
                del self._indents[key]
        lo, hi = pairs if pairs is not None else (start, end)
        for number in range(lo, hi - 1):
            first, second = lines[number].strip(), lines[number + 1].strip()
            if not first or not second:
                continue
            for index, key, value in ((self._next, first, second), (self._previous, second, first)):
                _count(index.setdefault(key, Counter()), value, step)
                if not index[key]:
                    del index[key]

    def _learn_edit(self, uri: str, lines: list[str], start: int, before: str | None) -> None:
        """Track single-line edits (`before` is the line's previous text, None for other edits); a
        one-identifier difference from the line as it was before the user started editing it is a rename
        to offer at the other occurrences."""
        if before is None:
            self._editing = None
            self._rename = None
            return
        if self._editing is None or self._editing[:2] != (uri, start):
            self._editing = (uri, start, before)
        renamed = _renamed(self._editing[2], lines[start])
        if renamed is None:
            self._rename = None
            return
        old, new = renamed
        pattern = _word_pattern(old)
        self._rename = _Rename(uri, old, new) if any(pattern.search(line) for line in lines) else None

    # ------------------------------------------------------------------ suggestions

    def suggest(self, uri: str, line: int, character: int) -> Suggestion | None:
        """The suggestion at a cursor position, or None when nothing is worth showing."""
        lines = self._docs.get(uri)
        if lines is None or line >= len(lines):
            return None
        current = lines[line]
        index = utf16_to_index(current, character)
        prefix, after = current[:index], current[index:]
        renamed = self._next_rename(uri, lines, line, index)
        if renamed is not None:
            return renamed
        if after.strip() and not all(ch in ")]}\"'`;,:" for ch in after.strip()):
            return None
        stripped = prefix.lstrip()
        indent = prefix[: len(prefix) - len(stripped)]
        for kind, rest in (
            ("sequence", self._sequence(lines, line, indent, stripped)),
            ("line", self._continue_line(uri, lines, line, stripped, len(indent))),
            ("fragment", self._continue_fragment(uri, stripped)),
        ):
            if rest:
                rest = _without_typed_closers(rest, after)
                if rest:
                    return Suggestion(rest, line, character, line, character, kind)
        return None

    def _next_rename(self, uri: str, lines: list[str], line: int, index: int) -> Suggestion | None:
        rename = self._rename
        if rename is None or rename.uri != uri:
            return None
        pattern = _word_pattern(rename.old)
        order = [*range(line, len(lines)), *range(0, line)]
        for number in order:
            text = lines[number]
            if rename.old not in text:
                continue
            for match in pattern.finditer(text):
                if number == line and match.end() < index:
                    continue
                begin = utf16_len(text[: match.start()])
                return Suggestion(rename.new, number, begin, number, begin + utf16_len(rename.old), "rename")
        return None

    @staticmethod
    def _sequence(lines: list[str], line: int, indent: str, typed: str) -> str | None:
        """Continue `case 1:` / `x1 = a[1]` style runs: the nearest line above at the same indentation that
        begins like the typed text, with its numbers advanced by the step seen above it (else by one)."""
        same: list[str] = []
        for number in range(line - 1, max(-1, line - 1 - _SEQUENCE_REACH), -1):
            text = lines[number]
            if not text.strip() or len(text) - len(text.lstrip()) > len(indent):
                continue
            if not text.startswith(indent) or text[len(indent) : len(indent) + 1].isspace():
                break
            same.append(text[len(indent) :].rstrip())
            if len(same) == 3:
                break
        if not same or not _NUMBER.search(same[0]):
            return None
        last = same[0]
        shape = _NUMBER.sub("#", last)
        numbers = [int(n) for n in _NUMBER.findall(last)]
        earlier = next((s for s in same[1:] if _NUMBER.sub("#", s) == shape), None)
        if earlier is not None:
            steps = [a - b for a, b in zip(numbers, (int(n) for n in _NUMBER.findall(earlier)), strict=True)]
            if not any(steps):
                return None
        elif typed:
            steps = [1] * len(numbers)
        else:
            return None
        # The typed text must repeat the line above up to its first advancing number: `case `, `x`.
        first = next(m.start() for m, step in zip(_NUMBER.finditer(last), steps, strict=True) if step)
        if not last.startswith(typed) or (len(typed) < first and not (earlier is not None and not typed)):
            return None
        values = iter(str(n + s) for n, s in zip(numbers, steps, strict=True))
        candidate = _NUMBER.sub(lambda _: next(values), last)
        return candidate[len(typed) :] if len(candidate) > len(typed) else None

    def _continue_line(self, uri: str, lines: list[str], line: int, typed: str, indent: int) -> str | None:
        """The rest of the most likely line beginning with the typed text, seen anywhere open, when it is
        likely enough: each candidate is scored by how often it was seen, whether it followed the line
        above and preceded the line below elsewhere, whether it was seen at this indentation, and whether
        it is near the cursor; it is shown only when its share of the candidates' weight is high."""
        if not typed:
            return None
        previous = lines[line - 1].strip() if line else ""
        below = lines[line + 1].strip() if line + 1 < len(lines) else ""
        following = self._next.get(previous, Counter()) if previous else Counter()
        preceding = self._previous.get(below, Counter()) if below else Counter()
        keys = {k for k in self._lines.starting_with(typed) if k != typed}
        keys.update(k for k in (*following, *preceding) if k.startswith(typed) and k != typed)
        if not keys:
            return None
        near = {text.strip() for text in lines[max(0, line - _NEAR) : line + _NEAR + 1]}
        weights: dict[str, float] = {}
        for key in keys:
            seen = self._lines.counts.get(key, 0)
            indents = self._indents.get(key)
            at_indent = indents[indent] / seen if indents and seen else 0.0
            weights[key] = math.exp(
                math.log1p(seen)
                + _FOLLOWS * math.log1p(following.get(key, 0))
                + _PRECEDES * math.log1p(preceding.get(key, 0))
                + _AT_INDENT * at_indent
                + _NEARBY * (key in near)
            )
        best = max(weights, key=lambda k: (weights[k], k))
        needed = LINE_CONFIDENCE if len(typed) >= _SHORT else SHORT_LINE_CONFIDENCE
        if weights[best] < needed * (sum(weights.values()) + _UNSEEN):
            return None
        return best[len(typed) :]

    def _continue_fragment(self, uri: str, typed: str) -> str | None:
        """The rest of a line that ends like the typed text elsewhere. The typed line's last tokens are
        looked up in the open documents, longest first; each way the lines holding them go on to their end
        scores more the more tokens it shares with the typed text (and in this document), and the best
        is shown when its share of the scores is high."""
        if typed.startswith(_COMMENT_STARTS):
            return None  # prose: its words go on in too many ways
        starts = [m.start() for m in _TOKEN.finditer(typed)]
        scores: dict[str, float] = {}
        budget = _SCAN_LIMIT  # occurrences looked at in all: a short, common fragment stays cheap
        depth = _depth(typed)
        # Shortest fragment first: a text without it holds no longer one (each ends with the shorter), so
        # each longer fragment is searched only in the texts that held the one before.
        holders = sorted(((other, text, 0) for other, text in self._texts.items()), key=lambda h: h[0] != uri)
        found: list[tuple[int, str, list[tuple[str, str, int]]]] = []
        for count in range(1, min(_FRAGMENT_TOKENS, len(starts)) + 1):
            fragment = typed[starts[-count] :]
            if len(fragment) < _FRAGMENT_MIN_CHARS:
                continue
            holders = [(other, text, at) for other, text, _ in holders if (at := text.find(fragment)) >= 0]
            if not holders:
                break
            found.append((count, fragment, holders))
        for count, fragment, holding in reversed(found):  # longest first: it spends the budget first
            if budget <= 0:
                break
            depth_before = depth - _depth(fragment)  # where the fragment begins in a line going on alike
            for other, text, at in holding:
                weight = _FRAGMENT_BASE**count * (_SAME_DOCUMENT if other == uri else 1.0)
                while at >= 0 and budget > 0:
                    budget -= 1
                    end = text.find("\n", at)
                    ending = text[at + len(fragment) : end if end >= 0 else len(text)].rstrip()
                    if ending and _depth(text[text.rfind("\n", 0, at) + 1 : at]) == depth_before:
                        scores[ending] = scores.get(ending, 0.0) + weight
                    at = text.find(fragment, at + 1)
        if not scores:
            return None
        best = max(scores, key=lambda ending: (scores[ending], ending))
        enough = FRAGMENT_CONFIDENCE * (sum(scores.values()) + _FRAGMENT_BASE**2)
        return best if scores[best] >= enough else None


def _relined(old: list[str], text: str, head: int, tail: int) -> tuple[list[str], int, int]:
    """The lines of `text` (as `split_lines` gives them) after an edit that left its first `head` and last
    `tail` characters as they were in the text of `old`, and how many lines at the start and at the end
    are therefore `old`'s own. Only the lines the edit touched are split; (all lines, 0, 0) without a hint."""
    first = text.count("\n", 0, head)
    begin = text.rfind("\n", 0, head) + 1
    end = text.find("\n", len(text) - tail)
    after = 0 if end < 0 else text.count("\n", end + 1) + (not text.endswith("\n"))
    if not (head or tail) or head + tail > len(text) or first > len(old) - after:
        return split_lines(text)[0], 0, 0
    middle = split_lines(text[begin:] if end < 0 else text[begin : end + 1])[0]
    return [*old[:first], *middle, *old[len(old) - after :]], first, after


def _depth(text: str) -> int:
    """How many brackets `text` leaves open (closers count down): lines that go on the same way must
    be equally deep where the typed text ends."""
    opened = text.count("(") + text.count("[") + text.count("{")
    return opened - text.count(")") - text.count("]") - text.count("}")


def _count(counter: Counter[Any], key: Any, step: int) -> None:
    """Add `step` to `counter[key]`, dropping the key when it reaches zero."""
    value = counter[key] + step
    if value > 0:
        counter[key] = value
    else:
        del counter[key]


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])")


def _renamed(before: str, after: str) -> tuple[str, str] | None:
    """The (old, new) identifier when `after` differs from `before` in exactly one identifier (and is not
    merely a shortened `old`: that is a rename still being typed)."""
    old_tokens, new_tokens = _TOKEN.findall(before), _TOKEN.findall(after)
    if len(old_tokens) != len(new_tokens):
        return None
    changed = [(a, b) for a, b in zip(old_tokens, new_tokens, strict=True) if a != b]
    if len(changed) != 1:
        return None
    old, new = changed[0]
    if _IDENT.fullmatch(old) and _IDENT.fullmatch(new) and not old.startswith(new):
        return old, new
    return None


def _without_typed_closers(rest: str, after: str) -> str:
    """Drop the closers already to the right of the cursor (auto-closed by the editor) from the end of `rest`."""
    tail = after.strip()
    if tail and rest.endswith(tail):
        return rest[: len(rest) - len(tail)]
    return rest
