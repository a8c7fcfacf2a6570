"""The built-in Tab model: each behaviour, incremental indexing and LSP (UTF-16) positions."""

from __future__ import annotations

import random

from byok.builtin.tab import Suggestion, TabModel

A = "file:///work/a.py"
B = "file:///work/b.py"


def typed(model: TabModel, uri: str, text: str, line: int) -> Suggestion | None:
    """Replace the document with `text` and ask at the end of `line`."""
    model.change(uri, text)
    last = text.split("\n")[line]
    return model.suggest(uri, line, len(last.encode("utf-16-le")) // 2)


def test_continues_a_line_seen_in_another_open_document() -> None:
    model = TabModel()
    model.open(B, "import logging\nlogger = logging.getLogger(__name__)\n")
    model.open(A, "import logging\n")
    got = typed(model, A, "import logging\nlogger = logg\n", 1)
    assert got is not None and got.kind == "line"
    assert got.text == "ing.getLogger(__name__)"
    assert (got.start_line, got.start_character, got.end_line, got.end_character) == (1, 13, 1, 13)


def test_prefers_the_line_that_followed_the_same_line_elsewhere() -> None:
    model = TabModel()
    model.open(
        B, "def f(self):\n    self.x = 1\n\ndef g(self):\n    self.y = 2\n\n    self.x = 3\n    self.x = 3\n"
    )
    model.open(A, "def g(self):\n    self.\n")
    got = model.suggest(A, 1, 9)
    assert got is not None and got.text == "y = 2"


def test_continues_case_sequence() -> None:
    model = TabModel()
    text = 'switch (n) {\n  case 1:\n    return "one";\n  case \n'
    model.open(A.replace(".py", ".ts"), text)
    got = model.suggest(A.replace(".py", ".ts"), 3, 7)
    assert got is not None and (got.kind, got.text) == ("sequence", "2:")


def test_continues_indexed_assignment_sequence() -> None:
    model = TabModel()
    model.open(A, "x1 = a[1]\nx\n")
    got = model.suggest(A, 1, 1)
    assert got is not None and got.text == "2 = a[2]"
    model.change(A, "x1 = a[1]\nx2 = a[2]\n\n")
    got = model.suggest(A, 2, 0)
    assert got is not None and got.text == "x3 = a[3]"


def test_uses_the_step_seen_above() -> None:
    model = TabModel()
    model.open(A, "    grid[0] = 0\n    grid[2] = 4\n    grid[\n")
    got = model.suggest(A, 2, 9)
    assert got is not None and got.text == "4] = 8"


def test_closes_what_lines_ending_in_the_same_tokens_closed_elsewhere() -> None:
    model = TabModel()
    model.open(A, "x = f(value)\ny = g(value)\nz = h(value\n")
    got = model.suggest(A, 2, 11)
    assert got is not None and (got.kind, got.text) == ("fragment", ")")


def test_the_longest_shared_ending_outweighs_a_common_short_one_in_other_documents() -> None:
    model = TabModel()
    c = "file:///work/c.py"
    model.open(c, "".join(f"h(a, ri{n})\n" for n in range(3)))  # holds `, ri`, not `left, ri`
    model.open(A, "y = compute(left, ri\n")
    assert model.suggest(A, 0, 20) is None  # three ways on from `, ri`, none likely enough
    model.open(B, "total = compute(left, right)\n")
    got = model.suggest(A, 0, 20)
    assert got is not None and (got.kind, got.text) == ("fragment", "ght)")


def test_says_nothing_when_the_lines_it_knows_disagree() -> None:
    model = TabModel()
    model.open(B, "".join(f"run(task, {n})\n" for n in range(6)))
    model.open(A, "run(ta\n")
    assert model.suggest(A, 0, 6) is None  # six ways on from `run(ta`, none likely enough


def test_an_even_split_between_lines_is_not_shown_but_context_decides() -> None:
    model = TabModel()
    model.open(B, "".join(f"import m{n}\nvalue = compute({n})\n" for n in range(6)))
    model.open(A, "x = 1\nvalue = comp\n")
    assert model.suggest(A, 1, 12) is None
    model.change(A, "import m2\nvalue = comp\n")
    got = model.suggest(A, 1, 12)
    assert got is not None and (got.kind, got.text) == ("line", "ute(2)")


def test_continues_the_end_of_a_line_seen_inside_other_lines() -> None:
    model = TabModel()
    model.open(B, "a = self.client.request(method, url)\nb = self.client.request(method, url)\n")
    model.open(A, "response = await self.client.req\n")
    got = model.suggest(A, 0, 32)
    assert got is not None and (got.kind, got.text) == ("fragment", "uest(method, url)")


def test_no_closers_in_the_middle_of_an_unknown_word_or_in_prose() -> None:
    model = TabModel()
    model.open(A, 'print("hel\n    """Return the (first\n')
    assert model.suggest(A, 0, 10) is None
    assert model.suggest(A, 1, 21) is None


def test_does_not_repeat_closers_the_editor_already_inserted() -> None:
    model = TabModel()
    model.open(A, 'print("hello")\n')
    got = model.suggest(A, 0, 12)
    assert got is None


def test_completes_a_known_identifier_then_closes() -> None:
    model = TabModel()
    model.open(B, "a = len(items)\nb = sum(items)\nc = max(items)\nfor item in items:\n    pass\n")
    model.open(A, "d = min(it\n")
    got = model.suggest(A, 0, 10)
    assert got is not None and (got.kind, got.text) == ("fragment", "ems)")


def test_next_edit_after_a_rename_covers_the_old_identifier() -> None:
    model = TabModel()
    base = "total = 0\nfor x in xs:\n    total += x\nprint(total)\n"
    model.open(A, base)
    # The user retypes the first `total` one keystroke at a time.
    for state in ("tota", "tot", "to", "t", "", "s", "su", "sum_"):
        model.change(A, base.replace("total", state, 1))
    got = model.suggest(A, 0, 4)
    assert got == Suggestion("sum_", 2, 4, 2, 9, "rename")
    # Accepting it is an ordinary edit of line 2; the next occurrence is offered next.
    accepted = "sum_ = 0\nfor x in xs:\n    sum_ += x\nprint(total)\n"
    model.change(A, accepted)
    got = model.suggest(A, 2, 8)
    assert got == Suggestion("sum_", 3, 6, 3, 11, "rename")
    model.change(A, accepted.replace("print(total)", "print(sum_)"))
    got = model.suggest(A, 3, 10)
    assert got is None or got.kind != "rename"


def test_rename_positions_are_utf16() -> None:
    model = TabModel()
    base = 'old = 1\ns = "\U0001f600"; y = old\n'
    model.open(A, base)
    model.change(A, base.replace("old", "new", 1))
    got = model.suggest(A, 0, 3)
    assert got == Suggestion("new", 1, 14, 1, 17, "rename")


def test_unrelated_edit_ends_the_rename() -> None:
    model = TabModel()
    base = "value = 1\nprint(value)\n"
    model.open(A, base)
    model.change(A, base.replace("value", "count", 1))
    model.change(A, "count = 1\nprint(value)\n\nimport os\n")
    got = model.suggest(A, 1, 0)
    assert got is None or got.kind != "rename"


def test_closing_a_document_forgets_its_lines() -> None:
    model = TabModel()
    model.open(B, "logger = logging.getLogger(__name__)\n")
    model.open(A, "logger = logg\n")
    assert model.suggest(A, 0, 13) is not None
    model.close(B)
    got = model.suggest(A, 0, 13)
    assert got is None or got.text != "ing.getLogger(__name__)"


def test_incremental_index_matches_a_fresh_one() -> None:
    edited = TabModel()
    fresh = TabModel()
    text = "".join(f"value_{i} = compute({i})\n" for i in range(50))
    edited.open(A, text)
    for i in range(10, 20):
        text = text.replace(f"value_{i} = compute({i})\n", f"renamed_{i} = compute({i}, True)\n")
        edited.change(A, text)
    text += "renamed_2"
    edited.change(A, text)
    fresh.open(A, text)
    assert edited._lines.counts == fresh._lines.counts
    assert edited._lines.keys == fresh._lines.keys
    assert edited._next == fresh._next
    assert edited._previous == fresh._previous
    assert edited._indents == fresh._indents
    assert edited._texts == fresh._texts
    assert edited.suggest(A, 50, 9) == fresh.suggest(A, 50, 9)


def test_a_change_told_what_it_left_alone_indexes_like_a_full_comparison() -> None:
    """`change` with `same_head`/`same_tail` (an incremental edit) ends in the state the full comparison gives."""
    rng = random.Random(5)
    pieces = ["x = 1", "x = 1", "", "    return y", "def f(a):", "\r", "é😋", "if a:"]
    text = "".join(rng.choice(pieces) + "\n" for _ in range(60))
    hinted, compared = TabModel(), TabModel()
    hinted.open(A, text)
    compared.open(A, text)
    for _ in range(400):
        start = rng.randrange(len(text) + 1)
        end = min(len(text), start + rng.choice([0, 0, 1, 3, 12, 80]))
        inserted = "".join(
            rng.choice([*pieces, "\n", "\r\n", "a", "("]) for _ in range(rng.choice([0, 1, 2, 4]))
        )
        text = text[:start] + inserted + text[end:]
        hinted.change(A, text, same_head=start, same_tail=len(text) - start - len(inserted))
        compared.change(A, text)
        assert hinted._docs == compared._docs
    assert hinted._lines.counts == compared._lines.counts
    assert hinted._next == compared._next
    assert hinted._previous == compared._previous
    assert hinted._indents == compared._indents
    assert hinted._rename == compared._rename
