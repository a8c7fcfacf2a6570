"""The built-in Tab model: ghost-text completion from the open documents and the user's recent edits.

Everything is kept in incrementally updated indexes, so a keystroke costs work proportional to the lines
it changed, not to the workspace: a multiset of (indentation-stripped) lines with a sorted key list for
prefix lookup, the line that followed each line (bigrams), and the identifier vocabulary. A suggestion is,
in order of preference: the same rename at the next occurrence (next-edit prediction, after the user
renamed an identifier in one place), the next step of an obvious sequence (`case 1:` then `case 2:`), the
rest of a line seen elsewhere with the same beginning, the rest of a known identifier plus the brackets
and quotes left open, or just those closers. Deterministic; no network.
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from collections import Counter
from dataclasses import dataclass

from byok.base.text import split_lines, utf16_len, utf16_to_index

__all__ = ["Suggestion", "TabModel"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\S")
_NUMBER = re.compile(r"\d+")
_PARTIAL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_PY_BLOCK = re.compile(
    r"^(?:if|elif|else|for|while|def|class|try|except|finally|with|async\s+(?:def|for|with))\b"
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_SCAN_LIMIT = 400
_SEQUENCE_REACH = 12


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
        self._doc_lines: dict[str, Counter[str]] = {}
        self._lines = _PrefixIndex()
        self._words = _PrefixIndex()
        self._next: dict[str, Counter[str]] = {}
        self._editing: tuple[str, int, str] | None = None
        self._rename: _Rename | None = None

    # ------------------------------------------------------------------ document lifecycle

    def open(self, uri: str, text: str) -> None:
        """Start tracking a document."""
        if uri in self._docs:
            self.close(uri)
        lines, _ = split_lines(text)
        self._docs[uri] = lines
        self._doc_lines[uri] = Counter()
        self._index(uri, lines, 0, len(lines), add=True)

    def close(self, uri: str) -> None:
        """Stop tracking a document and forget what it contributed."""
        lines = self._docs.pop(uri, None)
        if lines is None:
            return
        self._index(uri, lines, 0, len(lines), add=False)
        del self._doc_lines[uri]
        if self._rename is not None and self._rename.uri == uri:
            self._rename = None
        if self._editing is not None and self._editing[0] == uri:
            self._editing = None

    def change(self, uri: str, new_text: str) -> None:
        """Take the full new text after a `didChange`; re-index only the changed lines, learn renames."""
        old = self._docs.get(uri)
        if old is None:
            self.open(uri, new_text)
            return
        new, _ = split_lines(new_text)
        start = 0
        limit = min(len(old), len(new))
        while start < limit and old[start] == new[start]:
            start += 1
        tail = 0
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
        for number in range(start, end):
            key = lines[number].strip()
            for word in _IDENT.findall(key):
                if add:
                    self._words.add(word)
                else:
                    self._words.remove(word)
            if not key:
                continue
            if add:
                self._lines.add(key)
                doc[key] += 1
            else:
                self._lines.remove(key)
                doc[key] -= 1
                if doc[key] <= 0:
                    del doc[key]
        lo, hi = pairs if pairs is not None else (start, end)
        for number in range(lo, hi - 1):
            first, second = lines[number].strip(), lines[number + 1].strip()
            if not first or not second:
                continue
            following = self._next.setdefault(first, Counter())
            if add:
                following[second] += 1
            else:
                following[second] -= 1
                if following[second] <= 0:
                    del following[second]
                if not following:
                    del self._next[first]

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
            ("line", self._continue_line(uri, lines, line, stripped)),
            ("word", self._word(uri, stripped)),
            ("close", self._close(uri, stripped)),
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

    def _continue_line(self, uri: str, lines: list[str], line: int, typed: str) -> str | None:
        """The rest of the most likely line beginning with the typed text, seen anywhere open."""
        if not typed:
            return None
        previous = lines[line - 1].strip() if line else ""
        following = self._next.get(previous, Counter())
        doc = self._doc_lines[uri]
        best: tuple[int, str] | None = None
        for key in self._lines.starting_with(typed):
            if key == typed:
                continue
            score = self._lines.counts[key] + 2 * doc.get(key, 0) + 6 * following.get(key, 0)
            if best is None or score > best[0]:
                best = (score, key)
        for key, count in following.items():
            if key.startswith(typed) and key != typed:
                score = self._lines.counts.get(key, 0) + 2 * doc.get(key, 0) + 6 * count
                if best is None or score > best[0] or (score == best[0] and key < best[1]):
                    best = (score, key)
        return best[1][len(typed) :] if best is not None else None

    def _word(self, uri: str, typed: str) -> str | None:
        """The rest of the most frequent known identifier the typed text ends in, then the open closers."""
        match = _PARTIAL.search(typed)
        if match is None or len(match.group()) < 2 or _prose(typed):
            return None
        partial = match.group()
        best: tuple[int, str] | None = None
        for word in self._words.starting_with(partial):
            if word != partial and (best is None or self._words.counts[word] > best[0]):
                best = (self._words.counts[word], word)
        if best is None:
            return None
        rest = best[1][len(partial) :]
        return rest + (_closers(typed + rest, uri) or "")

    def _close(self, uri: str, typed: str) -> str | None:
        """Closers for what `typed` leaves open, once its last word is complete (seen elsewhere)."""
        if _prose(typed):
            return None
        match = _PARTIAL.search(typed)
        if match is not None and self._words.counts.get(match.group(), 0) < 2:
            return None
        return _closers(typed, uri)


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


def _prose(typed: str) -> bool:
    """Whether the line is a comment or docstring line, where closers and word guesses are noise."""
    return typed.startswith(("#", "//", "/*", "*", '"""', "'''")) or typed.count('"""') % 2 == 1


def _closers(typed: str, uri: str) -> str | None:
    """Closing quotes and brackets for what `typed` leaves open (plus `:` after a Python block header)."""
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    python = uri.endswith((".py", ".pyi"))
    for position, ch in enumerate(typed):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            if ch == "'" and position and typed[position - 1].isalnum() and not python:
                continue
            quote = ch
        elif ch in _OPEN:
            stack.append(_OPEN[ch])
        elif ch in ")]}":
            if not stack or stack[-1] != ch:
                return None
            stack.pop()
        elif (ch == "#" and python) or typed.startswith("//", position):
            return None
    closing = (quote or "") + "".join(reversed(stack))
    if python and _PY_BLOCK.match(typed) and not typed.rstrip().endswith(":"):
        closing += ":"
    return closing or None


def _without_typed_closers(rest: str, after: str) -> str:
    """Drop the closers already to the right of the cursor (auto-closed by the editor) from the end of `rest`."""
    tail = after.strip()
    if tail and rest.endswith(tail):
        return rest[: len(rest) - len(tail)]
    return rest
