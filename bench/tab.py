"""Tab benchmark: replay real source files, cut lines at a random point, ask for the rest of the line.

The corpus is real code nobody here wrote: Python modules of the packages installed in the project's venv
(not the standard library) and JavaScript/TypeScript sources in vscode-client/node_modules. Files are
grouped by folder (a folder is one "project": its files are the documents open together), and the folders
are split into a tuning half and a held-out half by a hash of their path, decided before any tuning: the
Tab model's thresholds were tuned on the tuning half only. For sampled lines, the line is cut at a random
point after its indentation (the document now holds the cut line, as if the user had typed up to there),
`suggest` is asked at the cut, and the suggested text is compared with the real rest of the line. The
naive baseline (the most frequent open line that begins with the typed text) sees the same open documents;
the Tab model also indexes up to 20 more files of the same folder, as the server does for nearby files.
Latency is per keystroke: `change` with the full new text plus `suggest`, then the same on a 5,000-line file.

    python bench/tab.py [--quick] [--seed N] [--split held|tune|both]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import sysconfig
import time
from bisect import bisect_left, insort
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from byok.builtin.tab import TabModel

REPO = Path(__file__).resolve().parent.parent
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
NODE_MODULES = REPO / "vscode-client" / "node_modules"
OPEN_PER_PROJECT = 8
NEARBY_PER_PROJECT = 20


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


def _usable(path: Path) -> bool:
    """A hand-written source file of moderate size (no minified bundles, no generated one-liners)."""
    try:
        if not 1_500 < path.stat().st_size < 150_000:
            return False
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return False
    return len(lines) > 40 and max(len(line) for line in lines) < 300


def split_of(folder: Path, base: Path) -> str:
    """The folder's half, "held" or "tune": a hash of its path inside the venv or node_modules."""
    return "held" if hashlib.sha1(folder.relative_to(base).as_posix().encode()).digest()[0] % 2 else "tune"


def projects(split: str) -> list[list[Path]]:
    """The folders of the corpus in `split`, each as its usable files (at least three)."""
    folders: dict[Path, list[Path]] = {}
    bases: dict[Path, Path] = {}
    for base, patterns in ((SITE_PACKAGES, ("*.py",)), (NODE_MODULES, ("*.ts", "*.js"))):
        for pattern in patterns:
            for path in base.rglob(pattern):
                if path.name.endswith((".d.ts", ".min.js")) or "test" in path.parts:
                    continue
                folders.setdefault(path.parent, []).append(path)
                bases[path.parent] = base
    found = []
    for folder, files in sorted(
        folders.items(), key=lambda item: item[0].relative_to(bases[item[0]]).as_posix()
    ):
        if split_of(folder, bases[folder]) != split:
            continue
        if len(usable := [f for f in sorted(files) if _usable(f)]) >= 3:
            found.append(usable)
    return found


def ms(seconds: float) -> str:
    """Milliseconds, two decimals."""
    return f"{seconds * 1000:.2f}"


def replay(split: str, count: int, per_project: int, seed: int) -> list[Path]:
    """Replay cut lines in `count` projects of `split`; print the figures; return the files opened."""
    rng = random.Random(seed)
    groups = projects(split)
    groups = rng.sample(groups, min(count, len(groups)))
    hits = base_hits = offered = base_offered = total = 0
    by_kind: Counter[str] = Counter()
    kind_hits: Counter[str] = Counter()
    model_times: list[float] = []
    base_times: list[float] = []
    opened: list[Path] = []
    for files in groups:
        chosen = rng.sample(files, min(OPEN_PER_PROJECT, len(files)))
        opened += chosen
        model, baseline = TabModel(), PrefixBaseline()
        texts: dict[str, list[str]] = {}
        for path in chosen:
            text = path.read_text(encoding="utf-8")
            texts[path.as_uri()] = text.split("\n")
            model.open(path.as_uri(), text)
            for line in texts[path.as_uri()]:
                baseline.add(line)
        for path in [f for f in files if f not in chosen][:NEARBY_PER_PROJECT]:
            model.learn(path.as_uri(), path.read_text(encoding="utf-8"))
        queries = [
            (uri, i) for uri, lines in texts.items() for i, line in enumerate(lines) if len(line.strip()) >= 4
        ]
        for uri, number in sorted(rng.sample(queries, min(per_project, len(queries)))):
            lines = texts[uri]
            line = lines[number]
            indent = len(line) - len(line.lstrip())
            cut = rng.randrange(indent, len(line.rstrip()))
            typed, rest = line[:cut], line[cut:].rstrip()
            total += 1

            started = time.perf_counter()
            model.change(uri, "\n".join([*lines[:number], typed, *lines[number + 1 :]]))
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

    print(
        f"Tab replay, {split} split: {len(groups)} folders of real packages, {total} cut lines (seed {seed})"
    )
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
        f"  exact matches: builtin {hits / max(base_hits, 1):.2f}x the baseline (target >= 1.3x; precision >= 60%)"
    )
    print(
        "  builtin by kind (offered / exact): "
        + ", ".join(f"{kind} {by_kind[kind]}/{kind_hits[kind]}" for kind in sorted(by_kind))
    )
    return opened


def run(quick: bool, seed: int, splits: list[str]) -> None:
    """The replays, then the 5,000-line latency test; print the figures."""
    opened: list[Path] = []
    for split in splits:
        opened = replay(split, 40 if quick else 150, 25, seed)
    print("  builtin latency = change(full text) + suggest; baseline = its index update + lookup")

    rng = random.Random(seed)
    model = TabModel()
    others = opened[:40]
    for path in others:
        model.open(path.as_uri(), path.read_text(encoding="utf-8"))
    big_lines: list[str] = []
    for path in sorted(SITE_PACKAGES.rglob("*.py")):
        if _usable(path):
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
    print(f"5,000-line file, {rounds} keystrokes with {len(others)} other documents open:")
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
    parser.add_argument("--split", choices=["held", "tune", "both"], default="held")
    args = parser.parse_args()
    run(args.quick, args.seed, ["tune", "held"] if args.split == "both" else [args.split])


if __name__ == "__main__":
    main()
