"""Of places one matched line each, the one of a long line the file has once beats those of a line the
file has in several places (a new rule's `display: block;` is in many rules; the comment after it once)."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
.menu {
    display: inline-block;
    color: red;
}

.menu a {
    color: blue;
    text-decoration: none;
}

.menu a:hover {
    text-decoration: underline;
}

.chapter li.chapter-item {
    line-height: 1.5em;
}

/* When expanded, rotate the chevron to point down. */
.chapter li.expanded > span > .toggle div {
    transform: rotate(90deg);
}

.sidebar {
    display: inline-block;
}

.footer {
    display: inline-block;
    margin: 0;
}
"""

NEW_RULE = """\
h1:target::before,
dt:target::before {
    display: inline-block;
    content: "»";
    width: 30px;
}

"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_line_the_file_has_once_places_the_new_rule(syntax: bool) -> None:
    snippet = "/* ... */\n" + NEW_RULE + "/* When expanded, rotate the chevron to point down. */\n/* ... */\n"
    result = apply_snippet(ORIGINAL, snippet, path="chrome.css", syntax=syntax)
    assert result.unresolved == []
    comment = "/* When expanded, rotate the chevron to point down. */\n"
    assert result.new_text == ORIGINAL.replace(comment, NEW_RULE + comment)
