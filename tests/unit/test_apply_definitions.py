"""Which lines Apply reads as the header of a definition (builtin/apply_lines.definition_name)."""

from __future__ import annotations

import pytest

from byok.builtin.apply_lines import definition_name


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("  persist () {", "persist"),
        ("  async load(id: string): Promise<T> {", "load"),
        ("  static *items() {", "items"),
        ("  constructor(options, parser = new Parser(options)) {", "constructor"),
        ("def run(self):", "run"),
        ("    if (x) {", None),
        ("   while(true) {", None),
        ("describe('x', function () {", None),
        ("  } else if (a) {", None),
        ("    x = foo(a) {", None),
    ],
)
def test_definition_headers(line: str, name: str | None) -> None:
    assert definition_name(line) == name
