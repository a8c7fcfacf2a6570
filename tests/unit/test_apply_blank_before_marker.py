"""A blank line a segment ends with, right before a marker, is the original's blank line there when the
original has one right after the placed lines: it is not added again."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
function isInFlaggedContext(node) {
\tif (node.parent.type === "LogicalExpression") {
\t\tif (
\t\t\tnode.parent.operator === "||" ||
\t\t\tnode.parent.operator === "&&"
\t\t) {
\t\t\treturn isInFlaggedContext(node.parent);
\t\t}

\t\t// Check the right hand side of a `??` operator.
\t\treturn false;
\t}
\treturn true;
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_blank_line_before_a_marker_is_the_originals(syntax: bool) -> None:
    snippet = (
        "function isInFlaggedContext(node) {\n\t\t// rest of the code unchanged\n\t\tif (\n"
        '\t\t\tnode.parent.operator === "||" ||\n\t\t}\n\n\t\t// (unchanged)\n}\n'
    )
    result = apply_snippet(ORIGINAL, snippet, path="rule.js", syntax=syntax)
    assert result.unresolved == []
    deleted = '\t\t\tnode.parent.operator === "&&"\n\t\t) {\n\t\t\treturn isInFlaggedContext(node.parent);\n'
    assert result.new_text == ORIGINAL.replace(deleted, "")


@pytest.mark.parametrize("syntax", [True, False])
def test_a_blank_line_the_placed_region_already_holds_stays(syntax: bool) -> None:
    original = 'def main():\n    print("hello")\n    return 0\n\n\ndef other():\n    return 1\n'
    snippet = (
        "from util import greet\n\n\ndef main():\n    greet()\n    return 0\n\n# ... existing code ...\n"
    )
    result = apply_snippet(original, snippet, path="app.py", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == (
        "from util import greet\n\n\ndef main():\n    greet()\n    return 0\n\n\ndef other():\n    return 1\n"
    )
