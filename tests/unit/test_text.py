"""The shared fence and indentation helpers agree with the copies they replaced, on random lines.

The old definitions are kept here as literals: `_FENCE` and `_indent` (features/inline_edit.py,
features/composer.py, builtin/apply.py), inline edit's closing-fence condition, composer's closing-fence
regex, and Apply's opening-fence match on a stripped line. Lines never hold a `\\n`: every caller splits
its text at `\\n` first.
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from byok.base.text import FENCE, closes_fence, indent_of

OLD_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")


def old_indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def old_inline_edit_closes(line: str, mark: str) -> bool:
    fence = OLD_FENCE.match(line)
    return bool(fence and fence[1][0] == mark[0] and len(fence[1]) >= len(mark) and not fence[2].strip())


def old_composer_closes(line: str, mark: str) -> bool:
    closer = re.compile(rf"^\s*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
    return closer.match(line) is not None


def old_apply_opening(stripped: str) -> str | None:
    fence = re.match(r"^(`{3,}|~{3,})", stripped)
    return None if fence is None else fence[1]


_SPACE = st.sampled_from([" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\u00a0", "\u2003", "\u3000"])
_FENCE_CHAR = st.sampled_from(["`", "~"])
_WHITESPACE = st.lists(_SPACE, max_size=4).map("".join)
_FENCE_RUN = st.builds(lambda char, count: char * count, _FENCE_CHAR, st.integers(1, 7))
_TAIL = st.text(alphabet=st.sampled_from([" ", "\t", "\r", "`", "~", "x", "p", ":", "\u00a0"]), max_size=6)
LINES = st.one_of(
    st.builds(lambda *parts: "".join(parts), _WHITESPACE, _FENCE_RUN, _TAIL),
    st.builds(lambda *parts: "".join(parts), _WHITESPACE, _FENCE_RUN, _FENCE_RUN, _WHITESPACE),
    st.text().filter(lambda line: "\n" not in line),
)
MARKS = st.builds(lambda char, count: char * count, _FENCE_CHAR, st.integers(3, 6))


@given(LINES)
@example("  ```python")
@example("~~~")
def test_fence_pattern_is_the_old_one(line: str) -> None:
    assert FENCE.pattern == OLD_FENCE.pattern
    new, old = FENCE.match(line), OLD_FENCE.match(line)
    assert (new is None) == (old is None)
    if new is not None and old is not None:
        assert new.groups() == old.groups()


@given(LINES, MARKS)
@example("```", "```")
@example("  ````  ", "```")
@example("``", "```")
@example("~~~~", "````")
@example("``` x", "```")
@example("~~~", "```")
def test_closes_fence_matches_inline_edit_and_composer(line: str, mark: str) -> None:
    assert closes_fence(line, mark) == old_inline_edit_closes(line, mark) == old_composer_closes(line, mark)


@given(LINES)
@example("```ts")
@example("\t~~~~ yaml")
def test_apply_opening_fence_is_group_one_on_the_stripped_line(line: str) -> None:
    stripped = line.strip()
    fence = FENCE.match(stripped)
    assert (None if fence is None else fence[1]) == old_apply_opening(stripped)


@given(LINES)
@example(" \t  x")
@example("\u00a0 x")
@example("    ")
def test_indent_of_is_the_old_indent(line: str) -> None:
    assert indent_of(line) == old_indent(line)
