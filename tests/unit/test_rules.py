"""Project rules: which files are found, when they apply, their order, bounds, jail and re-reading."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from byok.base.config import RulesSettings
from byok.workspace import rules as rules_module
from byok.workspace.rule_syntax import glob_matches, parse_front_matter
from byok.workspace.rules import RulesReader, nested_agents_files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    return directory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace with one rules file of every kind."""
    ws = tmp_path / "ws"
    write(ws / "AGENTS.md", "ROOT-AGENTS\n")
    write(ws / "CLAUDE.md", "CLAUDE-RULE\n")
    write(ws / ".github/copilot-instructions.md", "COPILOT-RULE\n")
    write(ws / ".github/instructions/py.instructions.md", '---\napplyTo: "**/*.py"\n---\nPY-INSTRUCTIONS\n')
    write(ws / ".github/instructions/all.instructions.md", "---\napplyTo: '**'\n---\nALL-INSTRUCTIONS\n")
    write(ws / ".github/instructions/manual.instructions.md", "---\ndescription: Docs style\n---\nDOCS\n")
    write(ws / ".cursor/rules/always.mdc", "---\nalwaysApply: true\n---\nCURSOR-ALWAYS\n")
    write(
        ws / ".cursor/rules/ts.mdc",
        "---\nglobs: *.ts, web/**/*.{tsx,jsx}\nalwaysApply: false\n---\nCURSOR-TS\n",
    )
    write(ws / ".cursor/rules/tests.mdc", "---\ndescription: How we write tests\n---\nCURSOR-TESTS\n")
    write(ws / ".cursorrules", "CURSORRULES\n")
    write(ws / ".windsurfrules", "WINDSURF\n")
    write(ws / ".clinerules/b.md", "CLINE-B\n")
    write(ws / ".clinerules/a.txt", "CLINE-A\n")
    write(ws / ".clinerules/ignored.json", "{}\n")
    write(ws / "pkg/api/AGENTS.md", "API-AGENTS\n")
    write(ws / "pkg/AGENTS.md", "PKG-AGENTS\n")
    write(ws / "pkg/api/handler.py", "x = 1\n")
    write(ws / "pkg/other/mod.py", "y = 2\n")
    write(ws / "web/app/page.tsx", "export {}\n")
    return ws


def titles(section: str) -> list[str]:
    return [line[3:] for line in section.splitlines() if line.startswith("## ")]


def test_every_kind_in_a_stable_order_with_the_rules_of_the_files_in_context(
    root: Path, config: Path
) -> None:
    write(config / "rules.md", "USER-RULE\n")
    reader = RulesReader()
    rules = reader.collect([root], config, RulesSettings(), [root / "pkg/api/handler.py"])
    section = rules.section()
    assert section.startswith("# Project rules\n")
    assert titles(section) == [
        "rules.md (the user's rules for every workspace)",
        "AGENTS.md",
        "CLAUDE.md",
        ".github/copilot-instructions.md",
        ".cursorrules",
        ".windsurfrules",
        ".clinerules/a.txt",
        ".clinerules/b.md",
        ".cursor/rules/always.mdc",
        ".github/instructions/all.instructions.md",
        ".github/instructions/py.instructions.md (for files matching **/*.py)",
        "pkg/api/AGENTS.md (for files matching pkg/api/**)",
    ]
    for text in ("USER-RULE", "ROOT-AGENTS", "CLINE-A", "CURSOR-ALWAYS", "PY-INSTRUCTIONS", "API-AGENTS"):
        assert text in section
    for text in ("PKG-AGENTS", "CURSOR-TS", "CURSOR-TESTS", "DOCS", "alwaysApply", "{}"):
        assert text not in section, "only the nearest AGENTS.md, matching globs, no front matter"
    assert reader.collect([root], config, RulesSettings(), [root / "pkg/api/handler.py"]).section() == section


def test_globs_of_cursor_rules_and_the_nearest_agents_md_follow_the_files(root: Path, config: Path) -> None:
    reader = RulesReader()
    section = reader.collect([root], config, RulesSettings(), [root / "web/app/page.tsx"]).section()
    assert "CURSOR-TS" in section and "PY-INSTRUCTIONS" not in section and "AGENTS.md (for" not in section
    section = reader.collect([root], config, RulesSettings(), [root / "pkg/other/mod.py"]).section()
    assert "PKG-AGENTS" in section and "API-AGENTS" not in section and "CURSOR-TS" not in section
    section = reader.collect([root], config, RulesSettings(), []).section()
    assert "PY-INSTRUCTIONS" not in section and "ROOT-AGENTS" in section


def test_the_agent_gets_conditional_and_description_rules_listed_by_name(root: Path, config: Path) -> None:
    nested = [(root, "pkg/AGENTS.md"), (root, "pkg/api/AGENTS.md")]
    rules = RulesReader().collect([root], config, RulesSettings(), nested=nested)
    section = rules.section()
    more = section.split("## More rules", 1)[1]
    assert "read_file" in more
    assert more.splitlines()[3:] == [
        "- .cursor/rules/ts.mdc: for files matching *.ts, web/**/*.{tsx,jsx}",
        "- .github/instructions/py.instructions.md: for files matching **/*.py",
        "- pkg/AGENTS.md: for files matching pkg/**",
        "- pkg/api/AGENTS.md: for files matching pkg/api/**",
        "- .cursor/rules/tests.mdc: How we write tests",
        "- .github/instructions/manual.instructions.md: Docs style",
    ]
    for text in ("CURSOR-TS", "PKG-AGENTS", "CURSOR-TESTS"):
        assert text not in section, "listed, not sent"
    status = rules.status(RulesSettings())
    by_path = {entry["path"]: entry for entry in status["files"]}
    assert by_path["AGENTS.md"] == {"path": "AGENTS.md", "kind": "agents", "bytes": 12, "appliesTo": "always"}
    assert by_path[".cursor/rules/ts.mdc"]["appliesTo"] == ["*.ts", "web/**/*.{tsx,jsx}"]
    assert by_path[".cursor/rules/tests.mdc"]["appliesTo"] == "on request"
    assert by_path[".cursor/rules/tests.mdc"]["description"] == "How we write tests"
    assert status["truncated"] is False and status["refused"] == []


def test_a_symlinked_claude_md_is_sent_once(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / "AGENTS.md", "SHARED-RULE\n")
    (ws / "CLAUDE.md").symlink_to(ws / "AGENTS.md")
    section = RulesReader().collect([ws], config, RulesSettings()).section()
    assert section.count("SHARED-RULE") == 1


def test_a_clinerules_file_and_no_rules_at_all(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / ".clinerules", "CLINE-FILE\n")
    rules = RulesReader().collect([ws], config, RulesSettings())
    assert titles(rules.section()) == [".clinerules"]
    empty = RulesReader().collect([tmp_path / "empty"], config, RulesSettings())
    assert empty.section() == "" and empty.before("SYSTEM") == "SYSTEM"
    assert rules.before("SYSTEM").startswith("# Project rules") and rules.before("SYSTEM").endswith(
        "\nSYSTEM"
    )


def test_rules_enabled_false_sends_nothing(root: Path, config: Path) -> None:
    rules = RulesReader().collect([root], config, RulesSettings(enabled=False), [root / "pkg/api/handler.py"])
    assert rules.section() == "" and rules.status(RulesSettings(enabled=False))["files"] == []


def test_max_bytes_cuts_at_a_line_end_and_says_so(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / "AGENTS.md", "".join(f"rule {i:03d}\n" for i in range(20)))  # 9 bytes a line
    write(ws / "CLAUDE.md", "CLAUDE\n")
    rules = RulesReader().collect([ws], config, RulesSettings(max_bytes=50))
    section = rules.section()
    assert "rule 004\n" in section and "rule 005" not in section and "CLAUDE" not in section.split("[")[0]
    assert section.endswith(
        "[The project rules are longer than rules.maxBytes (50 bytes); cut: AGENTS.md; left out: CLAUDE.md.]"
    )
    status = rules.status(RulesSettings(max_bytes=50))
    assert status["truncated"] is True and status["bytes"] == 45
    assert [(f["path"], f.get("truncated"), f.get("omitted")) for f in status["files"]] == [
        ("AGENTS.md", True, None),
        ("CLAUDE.md", True, True),
    ]
    write(ws / "AGENTS.md", "ééé")
    multibyte = RulesReader().collect([ws], config, RulesSettings(max_bytes=3))
    assert multibyte.sent[0].text == "é", "cut at a character boundary"


def test_extra_files_inside_the_workspace_or_config_dir_only(
    root: Path, config: Path, tmp_path: Path
) -> None:
    write(root / "docs/STYLE.md", "STYLE-GUIDE\n")
    write(root / "docs/LINKED.md", "LINKED-GUIDE\n")
    (tmp_path / "into-workspace").symlink_to(root / "docs")
    write(config / "team.md", "TEAM-RULES\n")
    write(tmp_path / "elsewhere.md", "ELSEWHERE\n")
    write(root / ".env", "TOKEN=x\n")
    (root / "escape.md").symlink_to(tmp_path / "elsewhere.md")
    extra = [
        "docs/STYLE.md",
        str(tmp_path / "into-workspace" / "LINKED.md"),
        str(config / "team.md"),
        str(tmp_path / "elsewhere.md"),
        "../elsewhere.md",
        "escape.md",
        ".env",
        "/etc/hostname",
        "docs/missing.md",
    ]
    rules = RulesReader().collect([root], config, RulesSettings(extra_files=extra))
    section = rules.section()
    assert "STYLE-GUIDE" in section and "TEAM-RULES" in section and "team.md (the user's rules" in section
    assert "## docs/LINKED.md\n\nLINKED-GUIDE" in section
    assert "ELSEWHERE" not in section and "TOKEN" not in section
    refused = {refusal.path: refusal.reason for refusal in rules.refused}
    outside = "rules.extraFiles may only name files inside the workspace or byok's config dir"
    assert refused == {
        str(tmp_path / "elsewhere.md"): outside,
        "../elsewhere.md": outside,
        "escape.md": outside,
        ".env": ".env looks like a secrets file and is never sent to a model",
        "/etc/hostname": outside,
        "docs/missing.md": "no such file",
    }


def test_rules_files_pass_the_jail(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    write(tmp_path / "outside.md", "OUTSIDE\n")
    ws.mkdir()
    (ws / "AGENTS.md").symlink_to(tmp_path / "outside.md")
    write(ws / "real.md", "HARD\n")
    os.link(ws / "real.md", ws / ".cursorrules")
    write(ws / ".cursor/rules/ok.mdc", "---\nalwaysApply: true\n---\nOK-RULE\n")
    rules = RulesReader().collect([ws], config, RulesSettings())
    assert titles(rules.section()) == [".cursor/rules/ok.mdc"]
    reasons = {refusal.path: refusal.reason for refusal in rules.refused}
    assert "outside the workspace" in reasons["AGENTS.md"]
    assert "hard links" in reasons[".cursorrules"]


def test_a_changed_file_is_read_again(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    agents = write(ws / "AGENTS.md", "FIRST\n")
    reader = RulesReader()
    assert "FIRST" in reader.collect([ws], config, RulesSettings()).section()
    agents.write_text("SECOND, longer\n")
    assert "SECOND" in reader.collect([ws], config, RulesSettings()).section()
    replacement = write(ws / "next.md", "THIRD!\n")  # same size: a rename changes the inode
    os.replace(replacement, agents)
    assert "THIRD!" in reader.collect([ws], config, RulesSettings()).section()
    agents.unlink()
    assert reader.collect([ws], config, RulesSettings()).section() == ""


def test_two_workspace_folders_name_their_files_by_folder(tmp_path: Path, config: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write(one / "AGENTS.md", "ONE\n")
    write(two / "AGENTS.md", "TWO\n")
    write(two / ".cursor/rules/py.mdc", "---\nglobs: '*.py'\n---\nTWO-PY\n")
    rules = RulesReader().collect([one, two], config, RulesSettings(), [two / "x.py"])
    assert titles(rules.section()) == [
        "one/AGENTS.md",
        "two/AGENTS.md",
        "two/.cursor/rules/py.mdc (for files matching *.py)",
    ]
    rules = RulesReader().collect([one, two], config, RulesSettings(), [one / "x.py"])
    assert "TWO-PY" not in rules.section(), "a folder's globs match its own files only"


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.ts"], "a.ts", True),
        (["*.ts"], "src/deep/a.ts", True),
        (["*.ts"], "src/a.tsx", False),
        (["src/*.ts"], "src/a.ts", True),
        (["src/*.ts"], "src/x/a.ts", False),
        (["src/**/*.ts"], "src/a.ts", True),
        (["src/**/*.ts"], "src/x/y/a.ts", True),
        (["src/**/*.ts"], "lib/src/a.ts", False),
        (["/src/**"], "src/x/a.py", True),
        (["docs/"], "docs/a/b.md", True),
        (["**/*.{ts,tsx}"], "web/page.tsx", True),
        (["**/*.{ts,tsx}"], "web/page.jsx", False),
        (["**"], "anything/at/all", True),
        (["tests/**/test_*.py"], "tests/unit/test_x.py", True),
        (["tests/**/test_*.py"], "tests/unit/x.py", False),
        (["*.PY"], "a.py", False),
    ],
)
def test_glob_table(patterns: list[str], path: str, expected: bool) -> None:
    assert glob_matches(patterns, path) is expected


def test_a_hostile_glob_cannot_backtrack() -> None:
    hostile = "/".join(["**"] * 20) + "/" + "*a" * 40 + "b"
    path = "/".join(["a" * 200] * 30)
    assert glob_matches([hostile, "{" * 50 + "x" + "}" * 50], path) is False


def test_front_matter_forms() -> None:
    front = parse_front_matter("---\nglobs:\n  - '*.py'\n  - src/**\nalwaysApply: TRUE\n---\n\nBody\n")
    assert front.globs("globs") == ["*.py", "src/**"] and front.flag("alwaysApply") and front.body == "Body\n"
    front = parse_front_matter('---\nglobs: ["a/*.ts", "*.{js,jsx}"]\ndescription: "Use x"\n---\nB')
    assert front.globs("globs") == ["a/*.ts", "*.{js,jsx}"] and front.text("description") == "Use x"
    assert parse_front_matter("no front matter\n---\n").body == "no front matter\n---\n"
    unclosed = "---\nglobs: x\nbody without end\n"
    assert parse_front_matter(unclosed).body == unclosed


async def test_nested_agents_files_outside_git_skip_hidden_and_dependency_folders(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for relative in (
        "AGENTS.md",
        "a/AGENTS.md",
        "a/b/c/AGENTS.md",
        "node_modules/x/AGENTS.md",
        ".hidden/AGENTS.md",
    ):
        write(ws / relative, "x\n")
    assert await nested_agents_files(ws) == [(ws, "a/AGENTS.md"), (ws, "a/b/c/AGENTS.md")]


async def test_nested_agents_files_in_git_follow_gitignore(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for relative in ("a/AGENTS.md", "ignored/AGENTS.md", ".tools/AGENTS.md"):
        write(ws / relative, "x\n")
    write(ws / ".gitignore", "ignored/\n")
    await asyncio.to_thread(subprocess.run, ["git", "init", "-q", str(ws)], check=True)
    assert await nested_agents_files(ws) == [(ws, ".tools/AGENTS.md"), (ws, "a/AGENTS.md")]


def test_the_agent_gets_the_rules_of_its_files_in_context_sent_and_the_rest_listed(
    root: Path, config: Path
) -> None:
    nested = [(root, "pkg/AGENTS.md"), (root, "pkg/api/AGENTS.md")]
    rules = RulesReader().collect(
        [root], config, RulesSettings(), [root / "pkg/api/handler.py"], nested=nested
    )
    section = rules.section()
    sent = section.split("## More rules", 1)[0]
    assert "PY-INSTRUCTIONS" in sent and "API-AGENTS" in sent and "PKG-AGENTS" not in sent
    listed = [
        line.split(":")[0]
        for line in section.split("## More rules", 1)[1].splitlines()
        if line.startswith("- ")
    ]
    assert listed == [
        "- .cursor/rules/ts.mdc",
        "- pkg/AGENTS.md",
        "- .cursor/rules/tests.mdc",
        "- .github/instructions/manual.instructions.md",
    ]


def test_a_symlink_re_pointed_out_of_the_workspace_is_checked_again(tmp_path: Path, config: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / "docs/inside.md", "INSIDE\n")
    write(tmp_path / "outside.md", "OUTSIDE\n")
    (ws / "AGENTS.md").symlink_to(ws / "docs/inside.md")
    reader = RulesReader()
    assert "INSIDE" in reader.collect([ws], config, RulesSettings()).section()
    (ws / "AGENTS.md").unlink()
    (ws / "AGENTS.md").symlink_to(tmp_path / "outside.md")
    rules = reader.collect([ws], config, RulesSettings())
    assert "OUTSIDE" not in rules.section() and [r.path for r in rules.refused] == ["AGENTS.md"]


def test_rules_are_gathered_on_the_loop_only_while_nothing_changed(
    root: Path, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`collect_unchanged` (run on the event loop) answers as `collect` does while every file is as last read,
    and leaves any new, changed, renamed or re-pointed file to `collect` (which reads it in a worker thread)."""
    monkeypatch.setattr(rules_module, "QUICK_S", 60.0)  # this disk counts as quick however busy the machine
    context = [root / "pkg/api/handler.py"]
    reader = RulesReader()
    assert reader.collect_unchanged([root], config, RulesSettings(), context) is None  # disk speed unknown
    first = reader.collect([root], config, RulesSettings(), context).section()
    unchanged = reader.collect_unchanged([root], config, RulesSettings(), context)
    assert unchanged is not None and unchanged.section() == first

    steps = [
        lambda: (root / "CLAUDE.md").write_text("CLAUDE-RULE, edited\n"),
        lambda: write(config / "rules.md", "USER-RULE\n"),  # a new file
        lambda: write(root / ".cursor/rules/new.mdc", "---\nalwaysApply: true\n---\nNEW-CURSOR\n"),
        lambda: os.replace(write(tmp_path / "same.md", "SAME-SIZE!\n"), root / ".windsurfrules"),
        lambda: (root / "AGENTS.md").unlink() or (root / "AGENTS.md").symlink_to(root / "pkg/AGENTS.md"),
    ]
    for change in steps:
        change()
        assert reader.collect_unchanged([root], config, RulesSettings(), context) is None
        expected = RulesReader().collect([root], config, RulesSettings(), context).section()
        assert reader.collect([root], config, RulesSettings(), context).section() == expected
        unchanged = reader.collect_unchanged([root], config, RulesSettings(), context)
        assert unchanged is not None and unchanged.section() == expected

    (root / ".clinerules/b.md").unlink()  # a file gone needs no reading: the loop sees it at once
    unchanged = reader.collect_unchanged([root], config, RulesSettings(), context)
    assert unchanged is not None and "CLINE-B" not in unchanged.section()


def test_folders_that_answered_slowly_are_never_gathered_on_the_loop(
    root: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = RulesReader()
    monkeypatch.setattr(rules_module, "QUICK_S", 0.0)
    reader.collect([root], config, RulesSettings())
    assert reader.collect_unchanged([root], config, RulesSettings()) is None
    monkeypatch.setattr(rules_module, "QUICK_S", 60.0)
    reader.collect([root], config, RulesSettings())
    assert reader.collect_unchanged([root], config, RulesSettings()) is not None
