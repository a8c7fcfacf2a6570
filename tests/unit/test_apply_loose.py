"""Context lines a model copied loosely (other spacing, a trailing comment dropped) still place a snippet."""

from __future__ import annotations

from byok.builtin.apply import apply_snippet
from byok.builtin.apply_loose import LooseLines

ORIGINAL = """\
def first(a, b):
    total = a + b  # the sum
    return total


def second(a, b):
    return a * b


def third(items):
    for item in items:
        print(item)
"""


def test_a_header_spaced_differently_is_the_original_header_and_the_snippet_text_wins() -> None:
    snippet = """\
# ... existing code ...
def second(a,b):
    result = a * b
    return result
# ... existing code ...
"""
    result = apply_snippet(ORIGINAL, snippet, path="x.py")
    assert result.unresolved == []
    assert "def second(a,b):\n    result = a * b\n    return result\n" in result.new_text
    assert result.new_text.count("def second") == 1


def test_a_context_line_without_its_comment_anchors_an_insertion() -> None:
    snippet = """\
def first(a, b):
    total = a + b
    total += 1
    return total
# ... existing code ...
"""
    result = apply_snippet(ORIGINAL, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text.startswith(
        "def first(a, b):\n    total = a + b\n    total += 1\n    return total\n\n"
    )


def test_a_loose_line_with_two_original_twins_stands_for_neither() -> None:
    keys = ["x = call(a, b)", "value = compute(1)", "x = call(a,b)"]
    loose = LooseLines(keys)
    assert loose.match_keys(["x = call( a, b )"], {key: [i] for i, key in enumerate(keys)}, None) == [
        "x = call( a, b )"
    ]
    assert loose.match_keys(["value=compute(1)  # one", "y = 1"], {}, None) == ["value = compute(1)", "y = 1"]


def test_a_new_line_between_new_lines_is_not_a_loose_copy_of_an_original_line() -> None:
    original = ".title {\n  margin: 2em ;\n  text-align: center ;\n  font-style: italic }\n\n.footer {\n  color: red;\n}\n"
    snippet = "/* ... */\n.nav {\n    font-size: 2em;\n    text-align: center;\n    width: 90px;\n}\n\n.footer {\n/* ... */\n"
    result = apply_snippet(original, snippet, path="x.css")
    assert result.unresolved == []
    assert result.new_text == original.replace(
        ".footer {", ".nav {\n    font-size: 2em;\n    text-align: center;\n    width: 90px;\n}\n\n.footer {"
    )


def test_a_tab_indented_snippet_of_a_tab_indented_rule_in_a_mostly_spaced_file_keeps_its_tabs() -> None:
    original = (
        ".xterm .shown {\n    opacity: 1;\n    pointer-events: none;\n}\n.xterm .other {\n    color: red;\n    margin: 0;\n}\n"
        ".xterm .invisible {\n\topacity: 0;\n\tpointer-events: none;\n}\n"
    )
    snippet = "/* ... */\n.xterm .invisible {\n\topacity: 7;\n\tpointer-events: none;\n}\n/* ... */\n"
    result = apply_snippet(original, snippet, path="x.css")
    assert result.unresolved == []
    assert result.new_text == original.replace("\topacity: 0;", "\topacity: 7;")


def test_a_short_line_spaced_otherwise_before_the_context_is_the_original_line() -> None:
    original = 'def tokens():\n    text = """\n        MULT    = \'*\' ;\n        DIV    = \'/\' ;\n    }"""\n    parse(text)\n'
    snippet = '    # ...\n        DIV   =\'/\' ;\n    }"""\n    parse(text)\n'
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original.replace("DIV    = '/' ;", "DIV   ='/' ;")


def test_a_loose_context_line_that_points_elsewhere_than_the_exact_lines_leaves_the_segment_unresolved() -> (
    None
):
    original = "PyMODINIT_FUNC\nPyInit_a(void)\n{\n\treturn Init(&module_definition);\n}\n"
    snippet = "// ...\n{\n\treturn Init (&module_definition);\n}\n\nPyMODINIT_FUNC\nPyInit_b(void)\n{\n\treturn Init(&b);\n}\n"
    result = apply_snippet(original, snippet, path="x.c", syntax=False)
    assert result.new_text.count("PyInit_a") == 1
    assert result.unresolved or result.new_text.startswith(
        "PyMODINIT_FUNC\nPyInit_a(void)\n{\n\treturn Init ("
    )


def test_a_loosely_copied_last_line_that_recurs_in_the_file_is_the_one_in_the_open_block() -> None:
    original = (
        "class Info:\n  def set(self, environ, rid):\n    self._env[rid] = environ\n\n"
        "  def register(self, environ, rid):\n    with self._lock:\n      if rid not in self._env:\n"
        "        self._env[rid] = environ\n\n  def get(self, rid):\n    return self._env[rid]\n"
    )
    snippet = (
        "  # ...\n  def register(self, environ, rid):\n    with self._lock:\n      if rid not in self._env:\n"
        "        # ...\n        self._env[rid]=environ\n  # ...\n"
    )
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original.replace(
        "        self._env[rid] = environ", "        self._env[rid]=environ"
    )
