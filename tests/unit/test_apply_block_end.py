"""A segment inside a block a header segment opened (or starting at the left edge inside it, heredoc text),
ending with that block's closer: the original lines between its last kept line and the block's end are
lines the snippet deletes."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
package Formatter;

sub _format_name {
    my ( $self, $test ) = @_;
    my $name = $test;

    if ( $self->timer ) {
        my $stamp = $self->_format_now();
        return "$stamp $name";
    }
    else {
        return "$name";
    }

}

sub _format_now {
    return scalar localtime;
}

1;
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_blocks_closer_ends_the_segment_there(syntax: bool) -> None:
    snippet = (
        "# ...rest of function...\nsub _format_name {\n    # ...rest of function...\n"
        '        return "$stamp $name";\n    }\n\n}\n# existing code\n'
    )
    result = apply_snippet(ORIGINAL, snippet, path="Formatter.pm", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace('    else {\n        return "$name";\n    }\n', "")


def test_a_closer_far_from_the_kept_lines_is_not_stretched_to() -> None:
    long_else = ORIGINAL.replace(
        '        return "$name";\n', "".join(f"        f{k}();\n" for k in range(12))
    )
    snippet = (
        "# ...rest of function...\nsub _format_name {\n    # ...rest of function...\n"
        '        return "$stamp $name";\n    }\n\n}\n# existing code\n'
    )
    result = apply_snippet(long_else, snippet, path="Formatter.pm")
    assert result.unresolved
    assert result.new_text == long_else


HEREDOC = """\
package Config;

sub _die_cant_write_config {
    my ($configpm) = @_;
    $Frontend->mydie(<<"END");
WARNING: CPAN.pm is unable to write a configuration file.  You
must be able to create and write to '$configpm'.

Aborting configuration.
END

}

sub _configpmtest {
    return 1;
}

1;
"""


def test_a_segment_starting_at_the_left_edge_still_ends_with_its_blocks_closer() -> None:
    snippet = (
        "# …\nsub _die_cant_write_config {\n    # ... keep existing code ...\n"
        "WARNING: CPAN.pm is unable to write a configuration file.  You\n"
        "must be able to create and write to '$configpm'.\n\n}\n# ... keep existing code ...\n"
    )
    result = apply_snippet(HEREDOC, snippet, path="Config.pm")
    assert result.unresolved == []
    assert result.new_text == HEREDOC.replace("Aborting configuration.\nEND\n\n", "")
