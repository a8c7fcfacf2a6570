"""A new definition's closers are not matched onto those of the original definition after it: that would
delete the definition the snippet never shows (a segment that ends before a marker)."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

FIRST = """\
void test_first(void)
{
\tstruct strbuf sb1 = STRBUF_INIT;
\tstrbuf_release(&sb1);
}
"""
REST = """
void test_other(void)
{
\tstruct string_list l = STRING_LIST_INIT_DUP;
\tstring_list_clear(&l, 0);
}

void test_last(void)
{
\tuse_after(0);
}
"""
ADDED = """
static int
checksum(const char *data, int length)
{
\tint sum = 0;

\twhile (length--)
\t{
\t\tsum += *data++;
\t}
\treturn sum;
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_new_definitions_closer_keeps_the_next_definition(syntax: bool) -> None:
    snippet = "// ... keep existing code ...\n" + FIRST + ADDED + "// ...rest of file...\n"
    result = apply_snippet(FIRST + REST, snippet, path="unused.c", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == FIRST + ADDED + REST
