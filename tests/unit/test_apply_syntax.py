"""The grammar-backed block ends Apply uses (builtin/syntax.py), its text fallback, and fuzzy anchoring."""

from __future__ import annotations

from byok.builtin.apply import apply_snippet
from byok.builtin.apply_planner import Planner
from byok.builtin.syntax import Syntax, grammar_for

PYTHON = '''\
class Box:
    def size(self) -> int:
        text = """
not indented
"""
        return len(text)

    def name(self) -> str:
        return "box"
'''

C = """\
static int
add(int a, int b)
{
#if WIDE
  return a + b;
#endif
  return a;
}

int main(void) { return add(1, 2); }
"""


def test_grammar_names_come_from_language_id_then_extension() -> None:
    assert grammar_for("typescriptreact", None) == "tsx"
    assert grammar_for(None, "lib/x.pm") == "perl"
    assert grammar_for("plaintext", "notes.txt") is None


def test_a_method_ends_where_its_parse_ends_not_at_a_shallow_string_line() -> None:
    lines = PYTHON.splitlines()
    syntax = Syntax.for_file(lines, "python")
    assert syntax is not None
    assert syntax.block_end(1) == 5
    assert syntax.block_end(0) == 8
    assert Planner(lines).block_end(1) == 2  # the text rule stops at the unindented string line


def test_a_c_function_with_its_header_on_two_lines_and_preprocessor_lines() -> None:
    lines = C.splitlines()
    syntax = Syntax.for_file(lines, "c")
    assert syntax is not None
    assert syntax.block_end(0) == 7
    assert syntax.block_end(9) is None  # one line: nothing to tell


def test_statements_and_unparsable_blocks_are_left_to_the_text_rules() -> None:
    lines = ["if x:", "    y = 1", "else:", "    y = 2", "def broken(:", "    pass"]
    syntax = Syntax.for_file(lines, "python")
    assert syntax is not None
    assert syntax.block_end(0) is None
    assert syntax.block_end(4) is None
    assert Syntax.for_file(lines, None) is None


def test_apply_replaces_the_whole_method_the_grammar_delimits_and_the_text_rule_cannot() -> None:
    snippet = """\
class Box:
    def size(self) -> int:
        return 3
    # ... existing code ...
"""
    expected = PYTHON.replace(
        '        text = """\nnot indented\n"""\n        return len(text)\n', "        return 3\n"
    )
    with_grammar = apply_snippet(PYTHON, snippet, language_id="python")
    assert with_grammar.new_text == expected and not with_grammar.unresolved
    text_only = apply_snippet(PYTHON, snippet, language_id="python", syntax=False)
    assert text_only.new_text != expected


FUZZY = """\
def load(path):
    handle = open( path ,'rb' )  # binary
    data = handle.read()
    return data


def save(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
"""


def test_an_anchor_whose_spacing_and_comment_changed_is_found_fuzzily() -> None:
    snippet = """\
# ... existing code ...
    handle = open(path, 'rb')
    data = handle.read().strip()
# ... existing code ...
"""
    result = apply_snippet(FUZZY, snippet, language_id="python")
    assert not result.unresolved
    assert result.new_text == FUZZY.replace(
        "    handle = open( path ,'rb' )  # binary\n    data = handle.read()\n",
        "    handle = open(path, 'rb')\n    data = handle.read().strip()\n",
    )


def test_a_fuzzy_anchor_close_to_two_lines_is_left_unresolved() -> None:
    original = FUZZY + FUZZY.replace("def load", "def load_again").replace("def save", "def save_again")
    snippet = (
        "# ... existing code ...\n    handle = open(path, 'rb')\n    data = handle.read().strip()\n# ...\n"
    )
    result = apply_snippet(original, snippet, language_id="python")
    assert result.unresolved and result.new_text == original


def test_a_perl_file_ending_in_end_and_a_comment_without_a_newline_parses() -> None:
    lines = [
        "sub shorten {",
        "    my $line = $_[0];",
        "    return $line;",
        "}",
        "",
        "1;",
        "__END__ # data follows",
    ]
    syntax = Syntax.for_file(lines, "perl")
    assert syntax is not None
    assert (
        syntax.block_end(0) == 3
    )  # tree-sitter-perl never returns on such a source without its last newline
