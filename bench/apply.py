"""Apply benchmark: exact-match accuracy over `tests/apply_cases/` and latency, including a 10,000-line file.

Accuracy counts a case as exact when the file after the edits equals `expected` and Apply reported
unresolved pieces exactly when the case says it should. Latency is wall time of `apply_snippet`. The
10,000-line file is real code (Python standard-library modules concatenated) with four kinds of snippet:
a marker-elided insertion in the middle, a complete-function replacement, an append after a marker, and
the whole file rewritten with two changed lines.

    python bench/apply.py [--quick] [--real-only] [--split NAME]

`--split tune` scores only the tune split of the real-code cases (the held-out splits are never tuned on);
`--real-only` runs only the real-code cases.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from byok.builtin.apply import apply_snippet

CASES = Path(__file__).resolve().parent.parent / "tests" / "apply_cases"
STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


CPU: list[float] = []
"""CPU (process) time of every timed call, ms: wall time also counts waiting for a busy machine."""


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall times in milliseconds of `repeat` calls (their CPU times go to `CPU`)."""
    out = []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        call()
        out.append((time.perf_counter() - started) * 1000)
        CPU.append((time.process_time() - cpu) * 1000)
    return out


def case_set(repeat: int) -> list[float]:
    """Run every case; print accuracy and failures; return the per-call latencies."""
    folders = sorted(p for p in CASES.iterdir() if (p / "case.json").exists())
    exact = 0
    failures: list[str] = []
    times: list[float] = []
    languages: dict[str, list[int]] = {}
    for folder in folders:
        meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        original, snippet, expected = (
            (folder / name).read_bytes().decode("utf-8") for name in ("original", "snippet", "expected")
        )
        path = meta.get("path")
        result = apply_snippet(original, snippet, path=path)
        ok = result.new_text == expected and bool(result.unresolved) == meta["unresolved"]
        exact += ok
        tally = languages.setdefault(meta["ext"], [0, 0])
        tally[0] += ok
        tally[1] += 1
        if not ok:
            failures.append(folder.name)
        times.extend(timed(partial(apply_snippet, original, snippet, path=path), repeat))
    print(f"Apply case set: {exact}/{len(folders)} exact ({exact / len(folders):.1%})")
    print("  by language: " + ", ".join(f"{ext} {ok}/{n}" for ext, (ok, n) in sorted(languages.items())))
    if failures:
        print("  not exact: " + ", ".join(failures))
    print(f"  latency per case: p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 99):.2f} ms")
    return times


def big_file() -> list[str]:
    """10,000 lines of real code: stdlib modules concatenated in name order."""
    lines: list[str] = []
    for path in sorted(STDLIB.glob("*.py")):
        lines.extend(path.read_text(encoding="utf-8").split("\n"))
        if len(lines) >= 10_000:
            break
    return lines[:10_000]


def scenarios(lines: list[str]) -> list[tuple[str, str, str]]:
    """(name, snippet, expected) on the big file."""
    text = "\n".join(lines) + "\n"
    header = next(
        i
        for i in range(5_000, 9_000)
        if lines[i].startswith("def ")
        and lines[i].endswith(":")
        and all(lines[k].startswith("    ") and lines[k].strip() for k in range(i + 1, i + 5))
        and sum(lines[k] == lines[i] for k in range(len(lines))) == 1
    )
    body = lines[header + 1 : header + 5]
    added = "    _bench_marker = True"
    insert = (
        "\n".join(
            ["# ... existing code ...", lines[header], *body[:2], added, *body[2:], "# ... existing code ..."]
        )
        + "\n"
    )
    insert_expected = "\n".join([*lines[: header + 3], added, *lines[header + 3 :]]) + "\n"

    end = header + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    replacement = [lines[header], '    """Replaced by the benchmark."""', "    return None"]
    whole = "\n".join(replacement) + "\n"
    whole_expected = "\n".join([*lines[:header], *replacement, *lines[end:]]) + "\n"

    append = "# ... existing code ...\n\n\ndef _bench_added():\n    return 1\n"
    append_expected = text + "\n\ndef _bench_added():\n    return 1\n"

    changed = list(lines)
    for number in (2_000, 8_000):
        target = next(k for k in range(number, len(lines)) if lines[k].strip().startswith("return "))
        changed[target] = changed[target] + "  # benchmark"
    rewrite = "\n".join(changed) + "\n"
    return [
        ("insert with markers", insert, insert_expected),
        ("whole function", whole, whole_expected),
        ("append after marker", append, append_expected),
        ("whole file, 2 lines changed", rewrite, rewrite),
    ]


def real_cases(split: str | None = None) -> None:
    """Exact rates on the cases cut from real code (tests/apply_cases/real*), per split, kind, language and
    whether a context line was copied loosely; only the cases of `split` when given."""
    folders = sorted(p for p in CASES.glob("real*/*") if (p / "case.json").exists())
    tally: dict[str, dict[str, list[int]]] = {"split": {}, "kind": {}, "ext": {}, "anchors": {}}
    silent = 0
    scored = 0
    for folder in folders:
        meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        if split is not None and meta["split"] != split:
            continue
        scored += 1
        original, snippet, expected = (
            (folder / name).read_bytes().decode("utf-8") for name in ("original", "snippet", "expected")
        )
        result = apply_snippet(original, snippet, path=meta["source"])
        ok = result.new_text == expected and not result.unresolved
        silent += not ok and not result.unresolved
        kind = meta["kind"] + ("+crlf" if meta["crlf"] else "")
        anchors = "changed" if meta.get("anchor") else "verbatim"
        axes = (("split", meta["split"]), ("kind", kind), ("ext", meta["ext"]), ("anchors", anchors))
        for axis, value in axes:
            counts = tally[axis].setdefault(value, [0, 0])
            counts[0] += ok
            counts[1] += 1
    print(
        f"Real-code cases: {scored} from installed packages and system sources"
        " (generate_real.py; anchors changed: vary_anchors.py)" + (f", split {split} only" if split else "")
    )
    for axis, counts in tally.items():
        print(
            f"  by {axis}: "
            + ", ".join(f"{k} {ok}/{n} ({ok / n:.0%})" for k, (ok, n) in sorted(counts.items()))
        )
    print(f"  wrong without a word (not exact, nothing unresolved): {silent}")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--real-only", action="store_true", help="only the real-code cases")
    parser.add_argument(
        "--split", help="only this split of the real-code cases (tune, held, held2, held3, held4)"
    )
    args = parser.parse_args()
    if not args.real_only:
        case_set(3 if args.quick else 20)
    real_cases(args.split)
    if args.real_only:
        return
    lines = big_file()
    original = "\n".join(lines) + "\n"
    repeat = 5 if args.quick else 30
    print(f"10,000-line file ({len(original) // 1024} KiB of stdlib code), {repeat} runs each:")
    every: list[float] = []
    for (name, snippet, expected), syntax in [
        (scenario, s) for scenario in scenarios(lines) for s in (True, False)
    ]:
        apply = partial(apply_snippet, original, snippet, language_id="python", syntax=syntax)
        result = apply()
        status = "exact" if result.new_text == expected and not result.unresolved else "NOT EXACT"
        times = timed(apply, repeat)
        cpu = CPU[-repeat:]
        if syntax:
            every.extend(times)
        else:
            del CPU[-repeat:]  # the text-only runs are the baseline, not part of the totals
        print(
            f"  {name:28} {'grammar' if syntax else 'text':7} {status:9} hunks {result.hunks}  "
            f"wall p50 {statistics.median(times):6.2f} ms  p99 {percentile(times, 99):6.2f} ms  "
            f"CPU p50 {statistics.median(cpu):6.2f} ms"
        )
    cpu = CPU[-len(every) :]
    print(
        f"  all 10,000-line runs with the grammar: wall p50 {statistics.median(every):.2f} ms, p99 {percentile(every, 99):.2f} ms;"
        f" CPU p50 {statistics.median(cpu):.2f} ms, p99 {percentile(cpu, 99):.2f} ms"
    )


if __name__ == "__main__":
    main()
