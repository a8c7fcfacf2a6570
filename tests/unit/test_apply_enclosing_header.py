"""A header over several lines that recurs (`def __init__(` with the same parameters in two classes),
followed by a marker deeper than it: the next segment's place tells which one the snippet edits."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
class Base:
  def __init__(
      self,
      trace=None,
      **kwds,
  ):
    self.trace = trace
    self.kwds = kwds


class Model(Base):
  def __init__(
      self,
      trace=None,
      quota=None,
      **kwds,
  ):
    super().__init__(**kwds)
    self.quota = quota
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_header_whose_block_holds_the_next_segment(syntax: bool) -> None:
    snippet = "  # ...\n  def __init__(\n      **kwds,\n  ):\n      # ...rest of function...\n    self.quota = quota\n"
    result = apply_snippet(ORIGINAL, snippet, path="model.py", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace(
        "      self,\n      trace=None,\n      quota=None,\n      **kwds,", "      **kwds,"
    )
