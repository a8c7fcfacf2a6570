"""Of places a segment's lines fit alike, the one where every matched line stands as indented as shown
wins (`return false; }` twice, the second pair also standing deeper in a loop further on)."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
export class Binding {
\tpublic equals(other: Binding | null): boolean {
\t\tif (other === null) {
\t\t\treturn false;
\t\t}
\t\tif (this.chords.length !== other.chords.length) {
\t\t\treturn false;
\t\t}
\t\tfor (let i = 0; i < this.chords.length; i++) {
\t\t\tif (!this.chords[i].equals(other.chords[i])) {
\t\t\t\treturn false;
\t\t\t}
\t\t}
\t\treturn true;
\t}
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_place_where_the_lines_stand_as_indented_wins(syntax: bool) -> None:
    snippet = (
        "\t// ...rest of function...\n\tpublic equals(other: Binding | null): boolean {\n\t\t// (unchanged)\n"
        "\t\t\treturn false;\n\t\t}\n\t\t\treturn false;\n\t\t}\n\t\t// ... existing code ...\n\t}\n\t// …\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="binding.ts", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace("\t\tif (this.chords.length !== other.chords.length) {\n", "")
