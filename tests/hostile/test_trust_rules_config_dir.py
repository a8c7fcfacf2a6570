"""`rules.extraFiles` (a setting a workspace can carry: byok.rules is not machine-scoped in the VS Code
client) can name any file in byok's config dir, e.g. the CLI's settings.json with MCP tokens in it, and its text
goes into every prompt."""

from pathlib import Path

from byok.base.config import RulesSettings
from byok.workspace.rules import RulesReader


def test_extra_files_do_not_read_byok_settings_from_the_config_dir(tmp_path: Path) -> None:
    workspace, config_dir = tmp_path / "ws", tmp_path / "config"
    workspace.mkdir()
    config_dir.mkdir()
    (config_dir / "settings.json").write_text(
        '{"mcp": {"servers": {"gh": {"url": "https://api.example.com/mcp",'
        ' "headers": {"Authorization": "Bearer ghp_REVIEWSECRET0123456789"}}}}}'
    )
    settings = RulesSettings(extra_files=[str(config_dir / "settings.json")])
    rules = RulesReader().collect([workspace], config_dir, settings)
    sent = "".join(rule.text for rule in rules.sent)
    assert "ghp_REVIEWSECRET" not in sent
