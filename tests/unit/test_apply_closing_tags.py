"""A lone closing tag (`</div>`) after a marker closes the innermost element the segment before it left
open: the original's nesting says which of its many `</div>` lines that is."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
<div class="book">
<div class="titlepage">
<div>
<div><h1 class="title">
<a name="FAQ"></a>Valgrind FAQ</h1></div>
<div><p class="releaseinfo">Release 3.19.0</p></div>
<div><div class="legalnotice">
<a name="faq-legal"></a><p>Email: valgrind@valgrind.org</p>
</div></div>
</div>
<hr>
</div>
<div class="toc">
<p><b>Table of Contents</b></p>
</div>
</div>
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_lone_closing_tag_closes_the_innermost_open_element(syntax: bool) -> None:
    snippet = (
        "<!-- rest of the code unchanged -->\n"
        '<div class="titlepage">\n<div>\n<div><h1 class="title">\n'
        '<a name="FAQ updated"></a>Valgrind FAQ</h1></div>\n'
        '<div><p class="releaseinfo">Release 3.19.0</p></div>\n'
        "    <!-- ... -->\n</div>\n<!-- (unchanged) -->\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="faq.html", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace('name="FAQ"', 'name="FAQ updated"')


@pytest.mark.parametrize("syntax", [True, False])
def test_a_closing_tag_after_closed_elements_stays_unresolved(syntax: bool) -> None:
    snippet = (
        "<!-- rest of the code unchanged -->\n"
        '<div><p class="releaseinfo">Release 3.20.0</p></div>\n'
        "    <!-- ... -->\n</div>\n<!-- (unchanged) -->\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="faq.html", syntax=syntax)
    assert result.unresolved == ["snippet lines 4-4:\n</div>"]
