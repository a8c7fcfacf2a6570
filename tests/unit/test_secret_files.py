"""Which names the file jail treats as secrets: credentials of common tools, never ordinary source files."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from byok.workspace.jail import is_secret_file

SECRETS = [
    # environment files
    ".env",
    ".env.local",
    ".env-local",
    ".env_production",
    "prod.env",
    ".envrc",
    # AI tools
    ".claude/.credentials.json",
    "home/u/.claude.json",
    ".codex/auth.json",
    ".codex/history.jsonl",
    ".gemini/oauth_creds.json",
    ".config/github-copilot/apps.json",
    ".cache/huggingface/token",
    ".cache/huggingface/stored_tokens",
    ".huggingface/token",
    # keyrings, byok's own keys among them
    ".local/share/python_keyring/keyring_pass.cfg",
    "Library/Application Support/python_keyring/crypted_pass.cfg",
    ".local/share/keyrings/login.keyring",
    # histories
    ".bash_history",
    ".zsh_history",
    ".zhistory",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".node_repl_history",
    ".sqlite_history",
    ".local/share/fish/fish_history",
    # cloud and CLI credentials
    "serviceAccountKey.json",
    "firebase-service-account.json",
    "my_service_account_key.json",
    ".terraform.d/credentials.tfrc.json",
    "ci.tfrc",
    ".config/gcloud/configurations/config_default",
    ".config/gh/hosts.yml",
    ".config/gh/config.yml",
    ".config/hub",
    ".config/op/config",
    ".op/config",
    ".config/configstore/firebase-tools.json",
    ".config/netlify/config.json",
    ".netlify/config.json",
    ".vercel/project.json",
    ".local/share/com.vercel.cli/auth.json",
    ".fly/config.yml",
    ".wrangler/config/default.toml",
    ".config/.wrangler/config/default.toml",
    ".cloudflared/cert.json",
    ".config/doctl/config.yaml",
    ".config/hcloud/cli.toml",
    ".config/stripe/config.toml",
    ".config/rclone/rclone.conf",
    ".config/ngrok/ngrok.yml",
    ".circleci/cli.yml",
    ".databrickscfg",
    ".sentryclirc",
    ".oci/config",
    ".azure/msal_token_cache.json",
    ".aws/credentials",
    ".docker/config.json",
    ".kube/config",
    # package managers and build tools
    ".yarnrc.yml",
    ".yarnrc",
    ".npmrc",
    ".config/pip/pip.conf",
    "pip.ini",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".m2/settings.xml",
    ".m2/settings-security.xml",
    ".gradle/gradle.properties",
    ".composer/auth.json",
    ".config/composer/auth.json",
    ".mylogin.cnf",
    ".passwd-s3fs",
]

ORDINARY = [
    "auth.py",
    "src/auth.ts",
    "token.py",
    "tokenizer.json",
    "tokens.json",
    "locales/en/auth.json",
    "lang/en/auth.php",
    "environment.py",
    "env.py",
    "src/history.py",
    "chat_history.py",
    "history.jsonl",
    "gradle.properties",
    "settings.xml",
    "pom.xml",
    ".claude/settings.json",
    ".claude/commands/review.md",
    "CLAUDE.md",
    "AGENTS.md",
    ".config/app.yaml",
    "config/settings.py",
    "credentials_test.py",
    "service_account.py",
    "keyring/backend.py",
    "fly.toml",
    "vercel.json",
    "netlify.toml",
    "wrangler.toml",
    ".github/workflows/ci.yml",
    "package.json",
    "pyproject.toml",
    ".gitignore",
    ".gitattributes",
    "README.md",
]


@pytest.mark.parametrize("name", SECRETS)
def test_credentials_files_are_secret_in_any_case(name: str) -> None:
    assert is_secret_file(PurePosixPath(name))
    assert is_secret_file(PurePosixPath("/home/u") / name.upper())


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_files_are_not_secret(name: str) -> None:
    assert not is_secret_file(PurePosixPath(name))
    assert not is_secret_file(PurePosixPath("/home/u/project") / name)
