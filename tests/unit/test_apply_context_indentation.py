"""Context lines that stand in two places, in a row at both, are told apart by indentation: where they
stand as indented as shown is their place (neither place deletes lines, so no lookalike is in play)."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
package Files;

sub load_dir {
    my ($self, $dir) = @_;

    my $count = 0;
    my $dh = IO::Dir->new($dir) or syserr(g_('cannot open directory %s'), $dir);

    while (defined(my $file = $dh->read)) {
        my $pathname = "$dir/$file";
        next unless -f $pathname;
        $count += $self->load($pathname);
    }

    return $count;
}

sub del_file {
    my ($self, $filename) = @_;

    delete $self->{files}->{$filename};
}

sub filter {
    my ($self, %opts) = @_;

    foreach my $filename (keys %{$self->{files}}) {
        if ($opts{remove}->($filename)) {
            delete $self->{files}->{$filename};
        }
    }
}

1;
"""

NEW_SUB = """\
sub load_dir_variant {
    my ($self, $dir) = @_;

    my $count = 7;
    my $dh = IO::Dir->new($dir) or syserr(g_('cannot open directory %s'), $dir);

    while (defined(my $file = $dh->read)) {
        my $pathname = "$dir/$file";
        next unless -f $pathname;
        $count += $self->load($pathname);
    }

    return $count;
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_context_as_indented_as_shown_places_the_new_sub(syntax: bool) -> None:
    snippet = (
        "# ... existing code ...\n\n    delete $self->{files}->{$filename};\n}\n\n"
        + NEW_SUB
        + "# existing code\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="Files.pm", syntax=syntax)
    assert result.unresolved == []
    anchor = "    delete $self->{files}->{$filename};\n}\n\n"
    assert result.new_text == ORIGINAL.replace(anchor, anchor + NEW_SUB + "\n", 1)
