"""A `{` block whose lines go on at the left edge (a Perl `qq~` string's text) does not end there: a marker
deeper than its header after them elides the block's rest, which stays."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
package Pod::Simple::HTMLLegacy;

sub _help_message {

  join '',
"[", __PACKAGE__, " version ", $VERSION, qq~]
Usage:  pod2html --help --infile=<name> --outfile=<name>
   --verbose --index --noindex

Options:
  --help         - prints this message.
  --title        - title that will appear in resulting html file.
~;

}

1;
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_text_at_the_left_edge_does_not_end_a_brace_block(syntax: bool) -> None:
    snippet = (
        "# ...\nsub _help_message {\n\n  join '',\n"
        "Usage:  pod2html --help --infile=<name> --outfile=<name>\n   --verbose --index --noindex\n"
        "    # ...rest of function...\n}\n# ...\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="HTMLLegacy.pm", syntax=syntax)
    assert result.unresolved == []
    deleted = '"[", __PACKAGE__, " version ", $VERSION, qq~]\n'
    assert result.new_text == ORIGINAL.replace(deleted, "")
