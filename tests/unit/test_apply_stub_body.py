"""A bare `...` that is the whole body of a block the snippet opens anew (a stub) is code: it cannot stand
for lines the original has. Under a header the original has, it still elides the body."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
class Report:
    def build(
        cls,
        text: str,
    ) -> Report:
        result = cls()
        result.text = text
        return result

    def close(self) -> None:
        self.done = True
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_new_stub_keeps_its_ellipsis_body(syntax: bool) -> None:
    snippet = (
        "    # ...\n"
        "        return result\n\n"
        "    def validator(\n        *, pre: bool = False\n    ) -> Callable[[int], int]:\n        ...\n"
        "    # ...\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="report.py", syntax=syntax)
    assert result.unresolved == []
    added = (
        "\n    def validator(\n        *, pre: bool = False\n    ) -> Callable[[int], int]:\n        ...\n"
    )
    assert result.new_text == ORIGINAL.replace("return result\n", "return result\n" + added)


@pytest.mark.parametrize("syntax", [True, False])
def test_an_ellipsis_under_a_header_of_the_original_elides_its_body(syntax: bool) -> None:
    added = "\n    def reopen(self) -> None:\n        self.done = False\n"
    snippet = "    def close(self) -> None:\n        ...\n" + added
    result = apply_snippet(ORIGINAL, snippet, path="report.py", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL + added
