"""Closers right after a kept line that opens nothing, no shallower than it, close no block the snippet
shows: their openers were deleted. They stand for the original's closers a few lines on, as they stand to
that line, and the lines between go."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
function packValues() {
    let s = '';
    for (let i = 0; i < arguments.length; i += 1) {
        const v = arguments[i];
        if (v >= 0 && i > 0) {
            s += ' ';
        }

        s += floatToString(v);
    }
    return s;
}

function watch(map) {
    const watchers = (() => {
        return new Set();
    })();
    watchers.add(map);
    return {
        close: () => {
            watchers.delete(map);
        },
    };
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_closer_as_deep_as_the_kept_line_deletes_its_block_head(syntax: bool) -> None:
    snippet = (
        "// existing code\nfunction packValues() {\n        // ... existing code ...\n"
        "    for (let i = 0; i < arguments.length; i += 1) {\n        const v = arguments[i];\n        }\n\n"
        "        // rest of the code unchanged\n}\n// …\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="pack.js", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace("        if (v >= 0 && i > 0) {\n            s += ' ';\n", "")


@pytest.mark.parametrize("syntax", [True, False])
def test_closers_deeper_than_the_kept_line_delete_their_openers(syntax: bool) -> None:
    snippet = (
        "// existing code\nfunction watch(map) {\n    // …\n    })();\n    watchers.add(map);\n"
        "        },\n    };\n    // existing code\n}\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="watch.js", syntax=syntax)
    assert result.unresolved == []
    deleted = "    return {\n        close: () => {\n            watchers.delete(map);\n"
    assert result.new_text == ORIGINAL.replace(deleted, "")
