"""`bench/run.py --write-results` rewrites the measured part of RESULTS.md and keeps the hand-written analysis."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import run


def test_write_results_keeps_the_hand_written_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "BENCH", tmp_path)
    analysis = f"{run.HAND_WRITTEN} (hand-written)\n\n- Apply: why the held split misses.\n"
    (tmp_path / "RESULTS.md").write_text("# old table\n\n| stale | row |\n\n" + analysis)

    run.write_results("# byok benchmark results\n\n| new | row |\n", "today", quick=False)

    written = (tmp_path / "RESULTS.md").read_text()
    assert written == "# byok benchmark results\n\n| new | row |\n\n" + analysis
    assert "stale" not in written


def test_write_results_without_an_earlier_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "BENCH", tmp_path)
    run.write_results("# byok benchmark results\n", "today", quick=True)
    assert (tmp_path / "RESULTS.md").read_text() == "# byok benchmark results\n"
