"""A header copied with other spacing (`a,#b {` for `a, #b {`) right before the lines that place its segment
stands for the original's header: it opens the block, so a closer after a marker is that block's end."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
#menu-bar.bordered {
    border-color: gray;
}
#menu-bar .fa-svg, #menu-bar .icon-button {
    position: relative;
    padding: 0 8px;
    z-index: 10;
    line-height: var(--menu-bar-height);
    cursor: pointer;
    transition: color 0.5s;
}
@media only screen and (max-width: 420px) {
    #menu-bar .fa-svg, #menu-bar .icon-button {
        padding: 0 5px;
    }
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_header_spaced_otherwise_opens_its_block(syntax: bool) -> None:
    snippet = (
        "/* (unchanged) */\n#menu-bar .fa-svg,#menu-bar .icon-button {\n    position: relative;\n"
        "    padding: 0 8px;\n    z-index: 17;\n    line-height: var(--menu-bar-height);\n    cursor: pointer;\n"
        "    /* ... keep existing code ... */\n}\n/* ...rest of function... */\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="chrome.css", syntax=syntax)
    assert result.unresolved == []
    expected = ORIGINAL.replace("z-index: 10;", "z-index: 17;").replace(
        "#menu-bar .fa-svg, #menu-bar .icon-button {\n    position",
        "#menu-bar .fa-svg,#menu-bar .icon-button {\n    position",
    )
    assert result.new_text == expected
