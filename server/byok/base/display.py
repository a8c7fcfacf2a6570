"""Text shown to a person who must decide on it (a command to run, a route to bind a key to): nothing in it may hide."""

from __future__ import annotations

import re
import unicodedata

_HIDING_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn", "Cs"})
"""Controls, format characters (bidi overrides, zero-width), odd spaces, separators, unassigned code points."""
_MARKERS = frozenset("⟨⟩")
_RUN = re.compile(r"(.)\1*", re.DOTALL)


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_BLANK_LOOKING = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
    + "".join(map(chr, [*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))
)
"""Letters and marks that render as nothing or as blank: Hangul fillers, the braille blank, Khmer inherent
vowels, the combining grapheme joiner and variation selectors."""


def visible(text: str) -> str:
    """`text` with nothing hidden: controls and bidi/invisible/blank characters escaped, long runs counted."""
    out: list[str] = []
    for match in _RUN.finditer(text):
        run = match.group()
        char, count = run[0], len(run)
        if char == " ":
            out.append(f"⟨{count} spaces⟩" if count >= 3 else run)
        elif char in _MARKERS or char in _BLANK_LOOKING or unicodedata.category(char) in _HIDING_CATEGORIES:
            shown = _escape(char)
            out.append(f"⟨{shown} repeated {count} times⟩" if count >= 3 else shown * count)
        else:
            out.append(run)
    return "".join(out)
