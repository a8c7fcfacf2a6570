"""Context that fits two places alike (`throw ...` after two `if`s) is told apart by the line the snippet
edits: the place whose line it stands against reads as the edited one wins."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
class Encoder {
  public function putVarUint32($val) {
    if ($val < 0) {
      throw new EncodeError(
        "Value out of uint32 range: " . $val);
    }

    if ($val < Decoder::MAX_INT32) {
      $this->putVarInt32Internal($val);
      return;
    }

    if (bccomp($val, Decoder::RANGE_UINT32) >= 0) {
      throw new EncodeError(
        "Value out of uint32 range: " . $val);
    }

    $this->putVarUint64Internal($val);
  }
}
"""

SNIPPET = """\
  // ... keep existing code ...
  public function putVarUint32($val) {
    // (unchanged)
    }

    if (bccomp($val, Decoder::RANGE_UINT32) >= 7) {
      throw new EncodeError(
        "Value out of uint32 range: " . $val);
    // ...rest of function...
  }
  // (unchanged)
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_place_of_the_edited_line_breaks_the_tie(syntax: bool) -> None:
    result = apply_snippet(ORIGINAL, SNIPPET, path="encoder.php", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace("RANGE_UINT32) >= 0", "RANGE_UINT32) >= 7")
