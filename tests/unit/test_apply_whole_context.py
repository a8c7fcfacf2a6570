"""Of places a segment's context fits alike, the one holding every line of it in a row (its closer too)
wins: at the other, a line the snippet does not show stands before the closer. Three lines or more so
matched decide even when one of them only tells a place (the rest closers)."""

from __future__ import annotations

import pytest

from byok.builtin.apply import apply_snippet

ORIGINAL = """\
class Recorder {
  async reset() {
    await this._snapshotter.reset();
    await this._harTracer.flush();
    this._harTracer.stop();
    this._harTracer.start({ omitScripts: true });
  }
  async dispose() {
    this._snapshotter.dispose();
    await this._harTracer.flush();
    this._harTracer.stop();
  }
  async captureSnapshot(page, name) {
    return this._snapshotter.capture(page, name);
  }
}
"""

NEW_METHOD = """\

  async updateHeaders() {
    if (!this._enabled())
      return;
    await this._network.setHeaders(this.headers);
  }
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_the_place_holding_the_whole_context_in_a_row_wins(syntax: bool) -> None:
    snippet = (
        "  // ... existing code ...\n    await this._harTracer.flush();\n    this._harTracer.stop();\n  }\n"
        + NEW_METHOD
        + "  // ...rest of function...\n"
    )
    result = apply_snippet(ORIGINAL, snippet, path="recorder.js", syntax=syntax)
    assert result.unresolved == []
    tail = "    this._harTracer.stop();\n  }\n  async captureSnapshot"
    assert result.new_text == ORIGINAL.replace(tail, tail.replace("  }\n", "  }\n" + NEW_METHOD))


LINKS = """\
export class LinkProvider {
  register(entry: Entry): number {
    if (entry.marker) {
      marker.onDispose(() => this.remove(entry, marker));
      this.data.set(entry.id, entry);
      return entry.id;
    }
    marker.onDispose(() => this.remove(entry, marker));
    return entry.id;
  }

  addMarker(entry: Entry): void {
    if (entry.marker) {
      marker.onDispose(() => this.remove(entry, marker));
    }
  }

  dispose(): void {
    this.data.clear();
  }
}
"""


@pytest.mark.parametrize("syntax", [True, False])
def test_one_line_and_its_closers_in_a_row_at_one_place_only(syntax: bool) -> None:
    new = "  count(): number {\n    return this.data.size;\n  }\n"
    snippet = (
        "  // ... keep existing code ...\n      marker.onDispose(() => this.remove(entry, marker));\n    }\n  }\n\n"
        + new
        + "  // ... existing code ...\n"
    )
    result = apply_snippet(LINKS, snippet, path="links.ts", syntax=syntax)
    assert result.unresolved == []
    assert result.new_text == LINKS.replace("  dispose(): void {", new + "\n  dispose(): void {")
