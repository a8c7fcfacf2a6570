"""Tab benchmark: replay real source files, cut lines at a random point, ask for the rest of the line.

A fixed, seeded sample of Python standard-library modules is opened as the workspace. For sampled lines,
the line is cut at a random point after its indentation (the document now holds the cut line, as if the
user had typed up to there), `suggest` is asked at the cut, and the suggested text is compared with the
real rest of the line. A naive baseline (the most frequent open line that begins with the typed text) is
measured in the same run over the same documents and queries. Latency is per keystroke: `change` with the
full new text plus `suggest`; the same is then measured on a 5,000-line file.

    python bench/tab.py [--quick] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from bisect import bisect_left, insort
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from byok.builtin.tab import TabModel

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"


class PrefixBaseline:
    """Naive longest-prefix lookup: the most frequent open line beginning with the typed text."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.keys: list[str] = []

    def add(self, line: str) -> None:
        key = line.strip()
        if key:
            if not self.counts[key]:
                insort(self.keys, key)
            self.counts[key] += 1

    def remove(self, line: str) -> None:
        key = line.strip()
        if key:
            self.counts[key] -= 1
            if not self.counts[key]:
                del self.counts[key]
                del self.keys[bisect_left(self.keys, key)]

    def suggest(self, typed: str) -> str | None:
        typed = typed.lstrip()
        if not typed:
            return None
        best: tuple[int, str] | None = None
        for number in range(bisect_left(self.keys, typed), len(self.keys)):
            key = self.keys[number]
            if not key.startswith(typed):
                break
            if key != typed and (best is None or self.counts[key] > best[0]):
                best = (self.counts[key], key)
        return best[1][len(typed) :] if best else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def sample_files(rng: random.Random, count: int) -> list[Path]:
    """A seeded sample of stdlib modules of moderate size."""
    files = sorted(p for p in STDLIB.glob("*.py") if 2_000 < p.stat().st_size < 200_000)
    return sorted(rng.sample(files, min(count, len(files))))


def ms(seconds: float) -> str:
    """Milliseconds, two decimals."""
    return f"{seconds * 1000:.2f}"


def run(quick: bool, seed: int) -> None:
    """Run the replay and the 5,000-line latency test; print the figures."""
    rng = random.Random(seed)
    files = sample_files(rng, 12 if quick else 40)
    per_file = 25 if quick else 60
    model = TabModel()
    baseline = PrefixBaseline()
    texts: dict[str, list[str]] = {}
    for path in files:
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        texts[uri] = text.split("\n")
        model.open(uri, text)
        for line in texts[uri]:
            baseline.add(line)

    hits = base_hits = offered = base_offered = total = 0
    by_kind: Counter[str] = Counter()
    kind_hits: Counter[str] = Counter()
    model_times: list[float] = []
    base_times: list[float] = []
    for uri, lines in texts.items():
        candidates = [i for i, line in enumerate(lines) if len(line.strip()) >= 4]
        for number in sorted(rng.sample(candidates, min(per_file, len(candidates)))):
            line = lines[number]
            indent = len(line) - len(line.lstrip())
            cut = rng.randrange(indent, len(line.rstrip()))
            typed, rest = line[:cut], line[cut:].rstrip()
            edited = [*lines[:number], typed, *lines[number + 1 :]]
            total += 1

            started = time.perf_counter()
            model.change(uri, "\n".join(edited))
            got = model.suggest(uri, number, len(typed.encode("utf-16-le")) // 2)
            model_times.append(time.perf_counter() - started)
            if got is not None and got.kind != "rename":
                offered += 1
                by_kind[got.kind] += 1
                if got.text.rstrip() == rest:
                    hits += 1
                    kind_hits[got.kind] += 1

            started = time.perf_counter()
            baseline.remove(line)
            baseline.add(typed)
            base = baseline.suggest(typed)
            base_times.append(time.perf_counter() - started)
            if base is not None:
                base_offered += 1
                base_hits += base.rstrip() == rest
            baseline.remove(typed)
            baseline.add(line)
            model.change(uri, "\n".join(lines))

    print(f"Tab replay: {len(files)} stdlib files, {total} cut lines (seed {seed})")
    print(f"  {'':10} {'exact':>7} {'offered':>8} {'precision':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for name, hit, off, times in (
        ("builtin", hits, offered, model_times),
        ("baseline", base_hits, base_offered, base_times),
    ):
        precision = hit / off if off else 0.0
        print(
            f"  {name:10} {hit / total:7.1%} {off / total:8.1%} {precision:9.1%} "
            f"{ms(statistics.median(times)):>7} {ms(percentile(times, 99)):>7}"
        )
    print(
        "  builtin by kind (offered / exact): "
        + ", ".join(f"{kind} {by_kind[kind]}/{kind_hits[kind]}" for kind in sorted(by_kind))
    )
    print("  builtin latency = change(full text) + suggest; baseline = its index update + lookup")

    big_lines: list[str] = []
    for path in sorted(STDLIB.glob("*.py")):
        big_lines.extend(path.read_text(encoding="utf-8").split("\n"))
        if len(big_lines) >= 5_000:
            break
    big_lines = big_lines[:5_000]
    uri = "file:///bench/big.py"
    model.open(uri, "\n".join(big_lines))
    keystroke: list[float] = []
    keystroke_cpu: list[float] = []
    suggest_only: list[float] = []
    rounds = 200 if quick else 1_000
    for _ in range(rounds):
        number = rng.randrange(len(big_lines))
        line = big_lines[number]
        cut = rng.randrange(0, len(line) + 1)
        edited = [*big_lines[:number], line[:cut], *big_lines[number + 1 :]]
        text = "\n".join(edited)
        started, cpu = time.perf_counter(), time.process_time()
        model.change(uri, text)
        middle = time.perf_counter()
        model.suggest(uri, number, len(line[:cut].encode("utf-16-le")) // 2)
        done = time.perf_counter()
        keystroke_cpu.append(time.process_time() - cpu)
        keystroke.append(done - started)
        suggest_only.append(done - middle)
        model.change(uri, "\n".join(big_lines))
    print(f"5,000-line file, {rounds} keystrokes with {len(files)} other documents open:")
    print(
        f"  change+suggest p50 {ms(statistics.median(keystroke))} ms, p99 {ms(percentile(keystroke, 99))} ms; "
        f"suggest alone p50 {ms(statistics.median(suggest_only))} ms, p99 {ms(percentile(suggest_only, 99))} ms"
    )
    print(
        f"  change+suggest CPU time p50 {ms(statistics.median(keystroke_cpu))} ms, "
        f"p99 {ms(percentile(keystroke_cpu, 99))} ms (wall time also counts waiting on a busy machine)"
    )


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.quick, args.seed)


if __name__ == "__main__":
    main()
