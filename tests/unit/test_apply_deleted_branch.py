"""A snippet that keeps a statement's first lines and its closers deletes what stood between them, an
`} else {` branch or a second callback included: the closers are the statement's, not new code."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

SETTER = """\
class Socket {
  get binaryType () {
    return this.type
  }

  set binaryType (type) {
    check(this)

    if (type !== 'blob' && type !== 'arraybuffer') {
      this.type = 'blob'
    } else {
      this.type = type
    }
  }

  close () {
    this.closed = true
  }
}
"""

CALLBACKS = """\
function update(ctx) {
    let state = ctx.state || {
        reason: 0
    };

    queue(channels, ctx, (chain) => {
        chain.next(state);
    }, () => {
        ctx.next(state);
    });

    return true;
}

function teardown(ctx) {
    return false;
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_closers_after_an_if_delete_its_else_branch(syntax: bool) -> None:
    snippet = (
        "  // …\n  set binaryType (type) {\n      // …\n\n"
        "    if (type !== 'blob' && type !== 'arraybuffer') {\n    }\n  }\n  // …\n"
    )
    result = apply_snippet(SETTER, snippet, path="socket.js", syntax=syntax)
    assert result.unresolved == []
    expected = SETTER.replace("      this.type = 'blob'\n    } else {\n      this.type = type\n", "")
    assert result.new_text == expected


@pytest.mark.parametrize("syntax", [True, False])
def test_a_closer_after_a_callback_deletes_the_second_callback(syntax: bool) -> None:
    snippet = (
        "// …\nfunction update(ctx) {\n    // ... keep existing code ...\n"
        "    queue(channels, ctx, (chain) => {\n        chain.next(state);\n    });\n\n    // ...\n}\n// …\n"
    )
    result = apply_snippet(CALLBACKS, snippet, path="update.ts", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == CALLBACKS.replace("    }, () => {\n        ctx.next(state);\n", "")
