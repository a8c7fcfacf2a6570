"""Closers alone inside a block a header segment opened: two runs of them as the block has them,
indentation and all, with a few lines between that the snippet deletes, when that fits one place only."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
function getResponseHeaders(res) {
    const headers = createHttpHeaders();
    for (const header of Object.keys(res.headers)) {
        const value = res.headers[header];
        if (Array.isArray(value)) {
            if (value.length > 0) {
                headers.set(header, value[0]);
            }
        }
        else if (value) {
            headers.set(header, value);
        }
    }
    return headers;
}
"""

SNIPPET = (
    "// ... existing code ...\nfunction getResponseHeaders(res) {\n        // existing code\n"
    "            }\n        }\n        }\n    }\n        // ...rest of function...\n}\n"
)


@pytest.mark.parametrize("syntax", [True, False])
def test_closers_alone_delete_the_lines_between_their_runs(syntax: bool) -> None:
    result = apply_snippet(ORIGINAL, SNIPPET, path="headers.js", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace(
        "        else if (value) {\n            headers.set(header, value);\n", ""
    )


def test_closers_alone_that_fit_two_places_are_unresolved() -> None:
    twice = ORIGINAL.replace(
        "    return headers;",
        "    for (const name of extra) {\n        if (name) {\n            if (name.length) {\n"
        "                log(name);\n            }\n        }\n        else {\n            skip(name);\n        }\n    }\n"
        "    return headers;",
    )
    result = apply_snippet(twice, SNIPPET, path="headers.js")
    assert result.unresolved
    assert result.new_text == twice
