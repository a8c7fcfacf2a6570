"""Text shown to a person who must decide on it (a route to bind a key to): nothing in it may hide."""

from __future__ import annotations

import re
import unicodedata

_HIDING_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn", "Cs"})
"""Controls, format characters (bidi overrides, zero-width), odd spaces, separators, unassigned code points."""
_MARKERS = frozenset("⟨⟩")
_RUN = re.compile(r"(.)\1*", re.DOTALL)


def visible(text: str) -> str:
    """`text` with nothing hidden: controls and bidi/invisible characters escaped, runs of 3+ counted."""
    out: list[str] = []
    for match in _RUN.finditer(text):
        run = match.group()
        char, count = run[0], len(run)
        if char == " ":
            out.append(f"⟨{count} spaces⟩" if count >= 3 else run)
        elif char in _MARKERS or unicodedata.category(char) in _HIDING_CATEGORIES:
            shown = _escape(char)
            out.append(f"⟨{shown} repeated {count} times⟩" if count >= 3 else shown * count)
        else:
            out.append(run)
    return "".join(out)


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
