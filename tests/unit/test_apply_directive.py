"""A C preprocessor directive stands at the left edge inside a function: a segment opening with one is
still inside the function a header segment opened, and its closer after a marker is the function's."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
#include <cstdlib>

void prepare_logdir()
{
    drop_all();
#ifdef _WIN32
    system("rmdir /S /Q test_logs");
#else
    auto rv = system("rm -rf test_logs");
    if (rv != 0)
    {
        throw std::runtime_error("Failed to rm -rf test_logs");
    }
#endif
}

int main()
{
    prepare_logdir();
    return 0;
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_a_segment_opening_with_a_directive_stays_inside_the_function(syntax: bool) -> None:
    snippet = (
        "// rest of the code unchanged\nvoid prepare_logdir()\n    // ...\n#ifdef _WIN32\n"
        '    system("rmdir /S /Q test_logs");\n    if (rv != 0)\n    {\n    // (unchanged)\n}\n// (unchanged)\n'
    )
    result = apply_snippet(ORIGINAL, snippet, path="logs.cpp", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == ORIGINAL.replace('#else\n    auto rv = system("rm -rf test_logs");\n', "")
