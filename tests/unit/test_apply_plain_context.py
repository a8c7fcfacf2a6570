"""A new definition shown after nothing but closing lines (`fi`, `}`) goes where those lines stand, if once."""

from __future__ import annotations

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
check() {
  if [ -n "$1" ]; then
    echo one
  fi
}

run() {
  for x in "$@"; do
    if [ -n "$x" ]; then
      echo "$x"
    fi
  done
}

main "$@"
"""


def test_closers_that_stand_once_exactly_as_shown_place_the_new_function() -> None:
    snippet = '# ...\n    fi\n  done\n}\n\ncleanup() {\n  rm -f "$tmp"\n}\n# ...\n'
    result = apply_snippet(ORIGINAL, snippet, path="x.sh")
    assert result.unresolved == []
    assert '    fi\n  done\n}\n\ncleanup() {\n  rm -f "$tmp"\n}\n\nmain "$@"\n' in result.new_text


def test_closers_that_stand_twice_leave_it_unresolved() -> None:
    snippet = '# ...\n    fi\n  done\n}\n\ncleanup() {\n  rm -f "$tmp"\n}\n# ...\n'
    twice = ORIGINAL.replace(
        "run() {", "other() {\n  for y in a; do\n    if true; then\n      :\n    fi\n  done\n}\n\nrun() {"
    )
    result = apply_snippet(twice, snippet, path="x.sh")
    assert result.unresolved and result.new_text == twice


def test_a_recurring_header_is_the_one_whose_block_holds_the_next_segment() -> None:
    original = (
        "class A {\n  emit(value) {\n    log(value);\n    return 1;\n  }\n}\n\n"
        "class B {\n  emit(value) {\n    send(value);\n    return 2;\n  }\n}\n"
    )
    snippet = "// ...\n  emit(value) {\n    // ...\n    send(value, true);\n    return 2;\n  }\n// ...\n"
    result = apply_snippet(original, snippet, path="x.js")
    assert result.unresolved == []
    assert result.new_text == original.replace("send(value);", "send(value, true);")
