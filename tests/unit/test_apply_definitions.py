"""Which lines Apply reads as the header of a definition (builtin/apply_lines.definition_name), and where
the text rules end a block (builtin/apply_lines.block_end)."""

from __future__ import annotations

import pytest

from byok.builtin.apply_lines import block_end, definition_name


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("  persist () {", "persist"),
        ("  async load(id: string): Promise<T> {", "load"),
        ("  static *items() {", "items"),
        ("  constructor(options, parser = new Parser(options)) {", "constructor"),
        ("def run(self):", "run"),
        ("  public get<T>(id: Identifier<T>): T | undefined {", "get"),
        ("    private next(seq: number[]): { index: number | null; last: number; } {", "next"),
        ("    if (x) {", None),
        ("   while(true) {", None),
        ("describe('x', function () {", None),
        ("  } else if (a) {", None),
        ("    x = foo(a) {", None),
    ],
)
def test_definition_headers(line: str, name: str | None) -> None:
    assert definition_name(line) == name


def test_a_label_a_directive_or_a_heredoc_end_at_the_left_edge_stays_inside_a_braced_block() -> None:
    c = [
        "int run(void) {",
        "  int rv = 0;",
        "#ifdef WIN",
        "  rv = 1;",
        "#endif",
        "fail:",
        "  return rv;",
        "}",
    ]
    assert block_end(c, 0) == 7
    perl = ["sub usage {", "    print <<EOM;", "  usage: x", "EOM", "    exit 1;", "}", "", "sub next {"]
    assert block_end(perl, 0) == 5


def test_a_line_like_a_label_ends_a_block_without_braces() -> None:
    yaml = ["test:", "  run: pytest", "build:", "  run: make"]
    assert block_end(yaml, 0) == 1


def test_a_commented_out_header_or_a_heredoc_opens_no_braced_block() -> None:
    perl = ["sub f {", "  $x .= <<'END';", "    {", "\tstrict;", "END", "  return $x;", "}"]
    assert block_end(perl, 1) == 3
    assert block_end(["#XXX if ($a) {", "#XXX   b();", "    c();", "#XXX }", "d();"], 0) is None


def test_a_parameter_list_going_on_below_opens_the_braced_block_its_last_line_opens() -> None:
    c = ["static int f(int a,", "             int b) {", "  int r = a;", "out:", "  return r;", "}", "int g;"]
    assert block_end(c, 0) == 5
