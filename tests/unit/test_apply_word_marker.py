"""A comment that reads as a marker by its words alone (`// break omitted`) right after a marker is a line
of the original when the original has it: two markers in a row would say no more than one."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
<?php
class Wrapper
{
    public function set_option($option, $arg)
    {
        switch ($option) {
            case OPTION_BLOCKING:
                // break omitted

            case OPTION_TIMEOUT:
                // break omitted

            default:
                // nothing to do here
        }

        return false;
    }

    public function close()
    {
        return true;
    }
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_word_marker_after_a_marker_is_the_originals_line(syntax: bool) -> None:
    snippet = (
        "    // ...rest of function...\n    public function set_option($option, $arg)\n            // …\n"
        "                // break omitted\n\n\n        return false;\n    }\n"
        "    // ...rest of function...\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="wrapper.php", syntax=syntax)
    assert result.unresolved == []
    deleted = "            default:\n                // nothing to do here\n        }\n"
    assert result.new_text == ORIGINAL.replace(deleted, "")
