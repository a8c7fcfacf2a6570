"""The line diff Apply's edits come from (builtin/diff.py): hunks that rebuild the new side, no more than needed."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from byok.builtin.diff import changed_ranges, matching_blocks

SOURCE = (
    Path(__file__).resolve().parents[2] / "server" / "byok" / "builtin" / "apply_planner.py"
).read_text()


def rebuilt(a: list[str], b: list[str]) -> list[str]:
    out: list[str] = []
    done = 0
    for i1, i2, j1, j2 in changed_ranges(a, b):
        out += a[done:i1] + b[j1:j2]
        done = i2
    return out + a[done:]


def test_hunks_rebuild_the_new_side_and_stay_minimal_for_scattered_edits() -> None:
    rng = random.Random(5)
    a = SOURCE.split("\n") * 4
    for _ in range(50):
        b = list(a)
        spots = sorted(rng.sample(range(0, len(a) - 5, 40), 4), reverse=True)
        for spot in spots:
            kind = rng.choice(["change", "insert", "delete"])
            if kind == "change":
                b[spot] = b[spot] + "  # changed"
            elif kind == "insert":
                b[spot:spot] = ["new line one", "new line two"]
            else:
                del b[spot : spot + 2]
        assert rebuilt(a, b) == b
        assert len(changed_ranges(a, b)) <= len(spots)


def test_equal_runs_are_equal_and_increasing() -> None:
    a = SOURCE.split("\n")
    b = [*a[:100], "x", *a[130:]]
    blocks = matching_blocks(a, b)
    assert all(a[i : i + size] == b[j : j + size] for i, j, size in blocks)
    assert all(i1 + s1 <= i2 and j1 + s1 <= j2 for (i1, j1, s1), (i2, j2, _) in itertools.pairwise(blocks))
    assert sum(size for _, _, size in blocks) == len(a) - 30
    assert changed_ranges(a, a) == [] and changed_ranges([], ["x"]) == [(0, 0, 0, 1)]
