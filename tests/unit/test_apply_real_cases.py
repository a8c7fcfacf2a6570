"""Apply on cases cut from real code (tests/apply_cases/real, written by generate_real.py): rates per split.

The engine is tuned on the `tune` split only; the held-out splits are reported beside it. `held` and `held2`
were opened in stop 23 (their misses analysed), so only `held3` and `held4` are still blind. The floors are the rates this
engine reaches (issue 15's target is 98 %), so a change that makes Apply worse on real code fails here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from byok.builtin.apply import apply_snippet

CASES = Path(__file__).resolve().parent.parent / "apply_cases"
REAL = tuple(sorted(CASES.glob("real*")))
"""`real` (tune and held by source), `real_held2` a fresh held-out set (generate_real.py --fresh --seed 7:
other sources, never looked at), `real_tune2` and `real_tune3` more tune cases from yet other sources (--seed 11 and 13
--split tune), `real_tune4` from the further roots (--seed 17 --split tune --more-roots --per-file 3 --crlf-rate 0.25),
`real_tune5` the weak kinds only (--seed 23 --kinds insert insert-lookalike delete-lazy lazy lookalike --per-file 4
--crlf-rate 0.3), `real_tune6` Python only (--seed 29 --languages py --per-language 160 --per-file 2 --crlf-rate 0.25),
`real_tune7` more Python (--seed 31, pyenv root), `real_tune8` cut as held2 was (--seed 37 --per-language 60), `real_tune9` (--seed 41 --per-language 40), `real_tune10` (--seed 43, weak kinds), `real_tune11` (--seed 47, --kinds delete-lazy),
`real_held3` a third held-out set, cut in stop 23 before any engine change of that stop was measured on it (--fresh
--seed 43 --split held3 --more-roots --no-stdlib --per-file 3 --per-language 40: sources no other case uses, no standard
library), `real_held4` a fourth, cut in stop 23 after the held misses were opened and before the last engine
change of that stop (--seed 53 --split held4 --more-roots --no-stdlib --per-file 2 --per-language 60; what is left here
is mostly Python and JavaScript), `real_anchors` cases of those sets with a context line copied loosely (vary_anchors.py)."""
FLOORS = {
    True: {"tune": 0.995, "held": 0.98, "held2": 0.985, "held3": 0.98, "held4": 0.98},
    False: {"tune": 0.995, "held": 0.98, "held2": 0.96, "held3": 0.975, "held4": 0.98},
}
"""Per split, with the grammars (syntax=True) and with the text rules alone (a machine without the wheels)."""


@pytest.mark.parametrize("syntax", [True, False])
def test_real_code_cases_per_split(syntax: bool) -> None:
    total: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    languages: set[str] = set()
    misses: list[str] = []
    for folder in sorted(folder for cases in REAL for folder in cases.iterdir()):
        meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        original, snippet, expected = (
            (folder / name).read_bytes().decode("utf-8") for name in ("original", "snippet", "expected")
        )
        result = apply_snippet(original, snippet, path=meta["source"], syntax=syntax)
        ok = result.new_text == expected and not result.unresolved
        total[meta["split"]] += 1
        exact[meta["split"]] += ok
        languages.add(meta["ext"])
        if not ok:
            misses.append(folder.name)
    assert total["tune"] + total["held"] >= 200 and len(languages) >= 10
    rates = {split: exact[split] / total[split] for split in total}
    assert all(rates[split] >= floor for split, floor in FLOORS[syntax].items()), (rates, misses)
