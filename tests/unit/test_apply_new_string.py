"""A marker-looking line inside a triple-quoted string that opens and closes in the snippet, on a line the
original lacks, is text of a new string (a doctest's `...`); in a docstring the original has, it still
elides lines."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = '''\
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "anyio: run the test with anyio")


def pytest_fixture_setup(fixturedef, request):
    """Set up a fixture.

    The fixture runs in the backend's event loop.
    """
    yield
'''
ADDED = '''class InvalidLicenseExpression(ValueError):
    """Raised when a license-expression string is invalid

    >>> canonicalize_license_expression("invalid")
    Traceback (most recent call last):
        ...
    InvalidLicenseExpression: Unknown license: 'invalid'
    """


'''


@pytest.mark.parametrize("syntax", [True, False])
def test_an_ellipsis_in_a_new_docstring_is_text(syntax: bool) -> None:
    snippet = "# ...\n" + ADDED + "def pytest_fixture_setup(fixturedef, request):\n# ... existing code ...\n"
    result = apply_snippet(ORIGINAL, snippet, path="plugin.py", syntax=syntax)
    assert result.unresolved == []
    head = "def pytest_fixture_setup"
    assert result.new_text == ORIGINAL.replace(head, ADDED + head)


@pytest.mark.parametrize("syntax", [True, False])
def test_an_ellipsis_in_a_docstring_of_the_original_elides_it(syntax: bool) -> None:
    snippet = (
        'def pytest_fixture_setup(fixturedef, request):\n    """Set up a fixture.\n\n    ...\n    """\n'
        "    yield\n    request.addfinalizer(fixturedef.finish)\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="plugin.py", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL + "    request.addfinalizer(fixturedef.finish)\n"
