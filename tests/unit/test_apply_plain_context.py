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


def test_closers_alone_between_markers_inside_a_block_are_not_appended() -> None:
    original = "function f(a) {\n  g(a, function () {\n    h();\n  });\n\n  if (a) {\n    return 1;\n  }\n\n  return 0;\n}\n"
    snippet = "// ...\nfunction f(a) {\n  // ...\n  });\n\n  }\n\n  // ...\n}\n"
    result = apply_snippet(original, snippet, path="x.js")
    assert result.new_text.count("});") == 1
    # where they stand in the block, the two lines between them deleted (test_apply_closers_inside.py)
    assert result.unresolved == []
    assert result.new_text == original.replace("  if (a) {\n    return 1;\n", "")


def test_a_plain_line_after_new_lines_does_not_stand_for_a_lookalike_further_on() -> None:
    original = (
        "class A {\n    one(): number {\n        return 1;\n    }\n\n    /**\n     * Two.\n     * More.\n     */\n"
        "    two(): number {\n        return 2;\n    }\n}\n"
    )
    snippet = (
        "// ...\n    one(): number {\n        return 1;\n    }\n\n    three(): number {\n        const a = 3;\n"
        "        /*\n         * Three.\n     */\n        return a;\n    }\n// ...\n"
    )
    result = apply_snippet(original, snippet, path="x.ts")
    assert result.unresolved == []
    new = snippet.split("\n")[1:-2]
    assert result.new_text == "\n".join(["class A {", *new, "", *original.split("\n")[5:]])


def test_a_segment_opening_with_closers_deletes_the_lines_between_them_and_its_anchor() -> None:
    original = (
        "sub text {\n    if ($x) {\n        croak('no');\n    }\n\n    $self->{text} = $_[1] if @_ > 1;\n"
        "    $self->{text};\n}\n"
    )
    snippet = "# ...\nsub text {\n    # ...\n    }\n\n    $self->{text};\n}\n# ...\n"
    result = apply_snippet(original, snippet, path="x.pm")
    assert result.unresolved == []
    assert result.new_text == original.replace("    $self->{text} = $_[1] if @_ > 1;\n", "")


def test_a_line_twice_in_the_file_goes_to_the_one_in_the_block_the_snippet_is_in() -> None:
    original = (
        "class A:\n  def run(self):\n    op = make(\n        one=1,\n        timeout_seconds=2)\n    return wait(\n"
        "        op_ref=parse(op))\n\n\nclass B:\n  def run(self):\n    return wait(\n        op_ref=parse(op))\n"
    )
    snippet = (
        "# ...\n  def run(self):\n    # ...\n    op = make(\n        one=1,\n        timeout_seconds=3)\n        # ...\n"
        "        op_ref=parse(op))\n# ...\n"
    )
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original.replace("seconds=2", "seconds=3")


def test_of_two_places_matching_as_many_lines_the_one_with_them_in_a_row_takes_an_insertion() -> None:
    original = (
        "  async reset() {\n    await this.tracer.flush();\n    this.tracer.start();\n    this.tracer.stop();\n  }\n"
        "  async dispose() {\n    await this.tracer.flush();\n    this.tracer.stop();\n  }\n"
        "  async capture() {\n    return 1;\n  }\n"
    )
    added = "\n  async headers() {\n    return [];\n  }\n"
    snippet = (
        "  // ...\n    await this.tracer.flush();\n    this.tracer.stop();\n  }\n" + added + "  // ...\n"
    )
    result = apply_snippet(original, snippet, path="x.js")
    assert result.unresolved == []
    assert result.new_text == original.replace("  }\n  async capture", "  }\n" + added + "  async capture")


def test_a_recurring_header_goes_where_a_later_segment_inside_it_has_one_place() -> None:
    original = (
        "class Http:\n    def connect(self):\n        log(\n            self.host,\n            self.port or 80,\n"
        "        )\n        return self.plain(conn)\n\n\nclass Https:\n    def connect(self):\n        log(\n"
        "            self.host,\n            self.port or 80,\n        )\n        return self.secure(conn)\n"
    )
    snippet = (
        "# ...\n    def connect(self):\n            # ...\n            self.host,\n            self.port or 443,\n"
        "        )\n            # ...\n        return self.secure(conn)\n# ...\n"
    )
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original[::-1].replace("08 ro", "344 ro", 1)[::-1]


def test_a_second_definition_of_a_name_the_file_has_goes_beside_its_context_when_its_lines_recur() -> None:
    original = (
        "class Conn:\n    def __init__(self, client):\n        self.client = client\n        self.debug = 0\n\n"
        "    @param(Load)\n    def load(self):\n        self.debug = 0\n\n    @param(Save)\n    def save(self):\n"
        "        return 2\n"
    )
    added = "    def __init__(self, stream=None):\n        self.stream = stream\n        self.debug = 0\n\n"
    snippet = "    # ...\n" + added + "    @param(Save)\n    # ...\n"
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original.replace("    @param(Save)", added + "    @param(Save)")


def test_a_second_init_after_the_first_shown_whole_does_not_overwrite_the_next_method() -> None:
    original = (
        "class Action:\n    def __init__(\n        self, strings, dest\n    ) -> None:\n        super().__init__(\n"
        "            strings=strings,\n            dest=dest,\n        )\n\n    def __call__(\n        self,\n"
        "        parser,\n        values,\n    ) -> None:\n        setattr(parser, self.dest, 1)\n"
    )
    added = "    def __init__(\n        self,\n        files,\n        location,\n    ) -> None:\n        self._files = files\n"
    snippet = "    # ...\n" + original.split("\n", 1)[1].split("\n\n")[0] + "\n\n" + added + "    # ...\n"
    result = apply_snippet(original, snippet, path="x.py")
    assert result.unresolved == []
    assert result.new_text == original.replace("\n\n    def __call__", "\n\n" + added + "\n    def __call__")


def test_a_new_definition_before_plain_lines_that_stand_once_goes_right_before_them() -> None:
    original = "package Less;\n\nsub import {\n    my $class = shift;\n    return;\n}\n\n1;\n"
    added = "sub make {\n    my ($proto, $token) = @_;\n    return $proto->new($token);\n}\n\n"
    snippet = "# ...\n" + added + "1;\n# ...\n"
    result = apply_snippet(original, snippet, path="x.pm")
    assert result.unresolved == []
    assert result.new_text == original.replace("1;\n", added + "1;\n")


def test_of_two_places_alike_but_for_indentation_the_one_indented_as_shown_takes_an_insertion() -> None:
    original = (
        ".ayu {\n    --border-color: #3473ad;\n}\n\n.light {\n    --fg: black;\n}\n\n"
        "@media (prefers-color-scheme: dark) {\n    .light {\n        --border-color: #3473ad;\n    }\n}\n"
    )
    added = "\nbody .active:before {\n    content: '';\n    display: block;\n}\n"
    snippet = "/* ... */\n    --border-color: #3473ad;\n}\n" + added + "/* ... */\n"
    result = apply_snippet(original, snippet, path="x.css")
    assert result.unresolved == []
    assert result.new_text == original.replace("}\n\n.light", "}\n" + added + "\n.light", 1)


def test_a_segment_that_would_only_add_a_closer_after_its_context_is_unresolved() -> None:
    original = (
        "function pack() {\n    let s = '';\n    for (let i = 0; i < n; i += 1) {\n        const v = values[i];\n"
        "        if (v >= 0 && i > 0) {\n            s += ' ';\n            s += '-';\n            s += '+';\n"
        "            s += '=';\n        }\n\n        s += String(v);\n    }\n    return s;\n}\n"
    )
    snippet = (
        "// ...\nfunction pack() {\n    // ...\n    for (let i = 0; i < n; i += 1) {\n        const v = values[i];\n"
        "        }\n\n        // ...\n}\n"
    )
    result = apply_snippet(original, snippet, path="x.js")
    assert result.unresolved  # the original's closer as deep as the kept line is 5 lines on: too far to tell
    assert result.new_text.count("}") == original.count("}")


def test_closers_shown_at_their_own_indentation_delete_the_shallower_closers_after_them() -> None:
    original = (
        "function parse(node) {\n    if (node) {\n        for (const x of node) {\n            if (x) {\n"
        "                use(x);\n            }\n        }\n    }\n    // not a filter expression.\n    return [];\n}\n"
    )
    snippet = (
        "// ...\nfunction parse(node) {\n                // ...\n            }\n        }\n"
        "    // not a filter expression.\n    return [];\n}\n// ...\n"
    )
    result = apply_snippet(original, snippet, path="x.js")
    assert result.unresolved == []
    assert result.new_text == original.replace("        }\n    }\n    // not", "        }\n    // not")


def test_a_comment_opener_shown_before_the_comment_lines_kept_deletes_the_ones_between() -> None:
    original = (
        "function merge(context, segments) {\n\tlet current = segments;\n\n\t/*\n\t * We need to ensure that the array\n"
        "\t * returned holds no more than the context allows.\n\t * entries will line up with the existing ones.\n"
        "\t */\n\twhile (current.length > context.count) {\n\t\tcurrent.pop();\n\t}\n\treturn current;\n}\n"
    )
    snippet = (
        "// ...\nfunction merge(context, segments) {\n\t// ...\n\n\t/*\n\t * entries will line up with the existing ones.\n"
        "\t */\n\t// ...\n}\n// ...\n"
    )
    result = apply_snippet(original, snippet, path="x.js")
    assert result.unresolved == []
    assert result.new_text == original.replace(
        "\t * We need to ensure that the array\n\t * returned holds no more than the context allows.\n", ""
    )
