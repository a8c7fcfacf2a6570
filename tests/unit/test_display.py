"""base/display.visible: what a person is asked to allow shows every character that could hide."""

from __future__ import annotations

import pytest

from byok.base.display import visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://api.example.com", "https://api.example.com"),
        ("a  b", "a  b"),
        ("a" + " " * 200 + "b", "a⟨200 spaces⟩b"),
        ("evil\u202e.com", "evil\\u202e.com"),
        ("x\u200b\u200b\u200by", "x⟨\\u200b repeated 3 times⟩y"),
        ("line\nbreak\ttab\x00", "line\\nbreak\\ttab\\x00"),
        ("fake ⟨3 spaces⟩ marker", "fake \\u27e83 spaces\\u27e9 marker"),
    ],
)
def test_visible(text: str, shown: str) -> None:
    assert visible(text) == shown
