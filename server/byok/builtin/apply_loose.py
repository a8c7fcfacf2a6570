"""Loose line matching for Apply: a context line that a model copied with other whitespace, or without (or
with another) trailing comment, still stands for the original line."""

from __future__ import annotations

import re
from functools import cached_property

from byok.builtin.apply_lines import is_trivial

LOOSE_LENGTH = 12
"""Shortest line (without whitespace and trailing comment) that may stand for an original line it does not
equal verbatim."""

_TRAILING_COMMENT = re.compile(r"\s+(?:#|//|--|;)[^\"'`]*$")
_COMMENT_HINT = re.compile("#|//|--|;")


def loose(line: str) -> str:
    """A line without its whitespace and trailing comment."""
    if _COMMENT_HINT.search(line):
        line = _TRAILING_COMMENT.sub("", line)
    return "".join(line.split())


def _forms(key: str) -> set[str]:
    """The forms a line is looked up by: without whitespace, and also without a trailing comment."""
    squeezed = "".join(key.split())
    return {squeezed, loose(key)} if _COMMENT_HINT.search(key) else {squeezed}


class LooseLines:
    """The original's lines by their loose forms, each view built on first use."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys

    @cached_property
    def every(self) -> list[str]:
        """Every original line as `loose` reads it."""
        return [loose(key) for key in self._keys]

    @cached_property
    def _index(self) -> dict[str, list[int]]:
        """Original line numbers by each of their loose forms."""
        index: dict[str, list[int]] = {}
        hint = _COMMENT_HINT.search
        for number, key in enumerate(self._keys):
            if key:
                squeezed = "".join(key.split())
                index.setdefault(squeezed, []).append(number)
                if hint(key) and (stripped := loose(key)) != squeezed:
                    index.setdefault(stripped, []).append(number)
        return index

    def has(self, key: str) -> bool:
        """Whether some original line loosely equals the line `key`."""
        return any(form in self._index for form in _forms(key))

    def match_keys(
        self, keys: list[str], exact: dict[str, list[int]], near: tuple[int, int] | None
    ) -> list[str]:
        """Segment match keys where a line the original lacks (`exact` indexes the original's keys) takes
        the key of the one original line it loosely equals. With `near` (original lines around a first
        placement), only lines with such a twin there are looked up in the whole file (a cheap look first)."""
        absent = {
            i: _forms(key)
            for i, key in enumerate(keys)
            if key not in exact and not is_trivial(key) and len(loose(key)) >= LOOSE_LENGTH
        }
        if near is not None and absent:
            window = {
                form
                for j in range(max(0, near[0]), min(len(self._keys), near[1]))
                for form in _forms(self._keys[j])
            }
            absent = {i: forms for i, forms in absent.items() if forms & window}
        filled = [i for i, key in enumerate(keys) if key]
        out = list(keys)
        for i, forms in absent.items():
            at = filled.index(i)
            beside = [keys[k] for k in filled[max(0, at - 1) : at + 2] if k != i]
            if len(beside) == 2 and not any(key in exact for key in beside):
                continue  # between new lines: a line of new code that happens to read like an original one
            found = {number for form in forms for number in self._index.get(form, ())}
            if len(found) == 1:
                out[i] = self._keys[found.pop()]
        return out
