"""Run every byok benchmark and print one table; each figure is measured beside its baseline in the same run.

    python bench/run.py                   # full run (a few minutes)
    python bench/run.py --quick           # a fast smoke run
    python bench/run.py --write-results   # also write bench/RESULTS.md (its hand-written section is kept)
    python bench/run.py --only overhead,cancel

Everything talks to loopback servers on 127.0.0.1 that this script starts; every loop is bounded.
No timed assertions: a missed target is a ✗ in the table, and the exit status stays 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench import caching, cancel, coldstart, concurrency, memory, overhead, redaction, relay  # noqa: E402
from bench._common import Context, Row, context  # noqa: E402

SESSION_BENCHES: dict[str, Callable[[Context, bool], Awaitable[list[Row]]]] = {
    "overhead": overhead.run,
    "relay": relay.run,
    "cancel": cancel.run,
    "concurrency": concurrency.run,
}
PROCESS_BENCHES: dict[str, Callable[[bool], Awaitable[list[Row]]]] = {
    "coldstart": coldstart.run,
    "memory": memory.run,
    "redaction": redaction.run,
    "caching": caching.run,
}
OTHER_SCRIPTS = ("tab.py", "apply.py")
"""The Tab and Apply benchmarks, run as scripts when present (with --quick on a quick run)."""
OTHER_TIMEOUT_S = 600
HEADERS = ("metric", "byok", "baseline", "ratio / added", "target", "")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": f"{os.cpu_count()} x {model} (nproc {len(os.sched_getaffinity(0))})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def mark(ok: bool | None) -> str:
    return "" if ok is None else ("✓" if ok else "✗")


def table(rows: list[Row]) -> str:
    cells = [HEADERS, *((r.metric, r.byok, r.baseline, r.compare, r.target, mark(r.ok)) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in rows:
        cells = (r.metric, r.byok, r.baseline, r.compare, r.target, mark(r.ok))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


async def run_benches(names: list[str], quick: bool) -> list[Row]:
    rows: list[Row] = []
    session = [n for n in names if n in SESSION_BENCHES]
    if session:
        async with context() as ctx:
            for name in session:
                print(f"… {name}", file=sys.stderr, flush=True)
                rows += await SESSION_BENCHES[name](ctx, quick)
    for name in names:
        if name in PROCESS_BENCHES:
            print(f"… {name}", file=sys.stderr, flush=True)
            rows += await PROCESS_BENCHES[name](quick)
    return rows


def run_others(quick: bool) -> list[tuple[str, str]]:
    """The Tab and Apply benchmarks' own output (the full corpora; `--quick` on a quick run)."""
    outputs = []
    flags = ["--quick"] if quick else []
    for script in OTHER_SCRIPTS:
        path = BENCH / script
        if not path.exists():
            continue
        command = " ".join([script, *flags])
        print(f"… {command}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(
                [sys.executable, str(path), *flags],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=OTHER_TIMEOUT_S,
            )
            output = done.stdout.strip() or done.stderr.strip()[-2000:]
            if done.returncode:
                output += f"\n(exit status {done.returncode})"
        except subprocess.TimeoutExpired:
            output = f"(timed out after {OTHER_TIMEOUT_S} s)"
        outputs.append((f"bench/{command}", output))
    return outputs


def hand_written(results: Path) -> str:
    """The hand-written analysis at the end of RESULTS.md (from `HAND_WRITTEN` on), kept across writes."""
    if not results.exists():
        return ""
    text = results.read_text()
    start = text.find(HAND_WRITTEN)
    return "" if start < 0 else text[start:].rstrip() + "\n"


def write_results(text: str, started: str, quick: bool) -> None:
    results = BENCH / "RESULTS.md"
    kept = hand_written(results)
    results.write_text(text + ("\n" + kept if kept else ""))
    print(f"wrote {BENCH / 'RESULTS.md'} ({started}{', quick' if quick else ''})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test of the benchmarks")
    parser.add_argument("--write-results", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset of: " + ", ".join([*SESSION_BENCHES, *PROCESS_BENCHES]),
    )
    parser.add_argument("--no-others", action="store_true", help="skip bench/tab.py and bench/apply.py")
    args = parser.parse_args()
    names = [*SESSION_BENCHES, *PROCESS_BENCHES]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = set(wanted) - set(names)
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        names = [n for n in names if n in wanted]

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_before = loadavg()
    clock = time.monotonic()
    rows = asyncio.run(run_benches(names, args.quick))
    others = [] if args.no_others or args.only else run_others(args.quick)
    elapsed = time.monotonic() - clock
    load_after = loadavg()
    info = machine()

    print(table(rows))
    for title, output in others:
        print(f"\n== {title}\n{output}")
    summary = (
        f"{started}; {info['cpu']}; {info['python']}; load average {load_before} before, "
        f"{load_after} after; {elapsed:.0f} s{' (--quick)' if args.quick else ''}"
    )
    print(f"\n{summary}")

    if args.write_results:
        body = [
            "# byok benchmark results",
            "",
            f"Measured {started} with `python bench/run.py{' --quick' if args.quick else ''} --write-results`.",
            "",
            f"- Machine: {info['cpu']}, {info['os']}",
            f"- Python: {info['python']}",
            f"- Load average (1/5/15 min): {load_before} before, {load_after} after (a shared machine: "
            "other engineers' test suites ran meanwhile; every figure is compared with a baseline "
            "measured in the same run, interleaved with it)",
            f"- Wall time: {elapsed:.0f} s",
            "",
            markdown(rows),
            "",
            NOTES,
        ]
        for title, output in others:
            body += ["", f"## `{title}`", "", "```", output, "```"]
        write_results("\n".join(body) + "\n", started, args.quick)


HAND_WRITTEN = "## Where the misses are, and why"

NOTES = """## How each figure is measured

All provider traffic goes to `bench/_servers.py`, a raw-asyncio HTTP/1.1 server in its own process that
streams OpenAI Chat Completions SSE (chunked, keep-alive) as fast as it can; the byok server runs as
`python -m byok` over stdio with its own temporary `XDG_DATA_HOME` and the null keyring, driven by
`bench/_lsp.py`, a minimal JSON-RPC client that timestamps each message when its bytes are read. Times
are CLOCK_MONOTONIC, so the loopback server's records (when a socket closed) compare across processes.

- **Overhead**: `workspace/executeCommand byok.chat` written → first `byok/stream` notification read
  (first token) and → response read (total), vs a direct `httpx` streaming call from the benchmark
  process to the same server (request → first content delta parsed; → `[DONE]`). 20-delta answers;
  byok and direct runs alternate. "Added" = byok percentile - direct percentile.
- **Relay**: one stream of tiny deltas (one character each); characters per second reaching the client,
  best of the runs on each side. byok coalesces deltas arriving within 4 ms of its last notification;
  the first delta is sent at once, so first-token latency is not delayed by coalescing (shown).
- **Cancel**: the loopback server sends one delta then holds the stream; the client sends
  `$/cancelRequest` 10 ms after the first notification. Times to the `-32800` answer and to the moment
  the loopback server saw the socket close. Baseline: an httpx stream closed by its own client.
- **Concurrency**: 50 chats sent at once, each streaming 100 deltas 10 ms apart (~1 s, like a real
  model), total wall time vs one such chat. Tab: `textDocument/inlineCompletion` on an open document
  (a stdlib module), asked every ~10 ms while the chats run (three rounds of the 50 chats, ~270
  requests; the chat figures are the first round's), vs the same requests on the idle server.
- **Cold start**: spawn → `initialize` answered (initialize written immediately after spawn), median
  of interleaved starts, beside `python -c pass`, `python -c "import lsprotocol.types"` and
  `python -c "import pygls.lsp.server"` (pygls' server module, the floor issue 15 names; spawn → exit).
- **Memory**: VmRSS from `/proc/PID/status`: idle after `initialized` (beside an idle interpreter that
  imported pygls' server), then growth from after 10 warm-up chats to after 1,000 more.
- **Redaction**: in the benchmark process, best of 5 repeats: a 4 KB reply through `redact` with 8 keys
  registered (each in its raw/escaped, hex and three base64 forms) vs with none (key shapes only); and
  the same text as 7-character deltas through a `StreamRedactor`, per delta, beside `json.dumps` of the
  `byok/stream` notification each delta is sent in."""


if __name__ == "__main__":
    main()
