#!/usr/bin/env bash
# Install (or reuse) the REAL MCP servers used by tests/mcp_servers: @modelcontextprotocol/server-everything
# from npm and mcp-server-time from PyPI, pinned, into ${BYOK_CACHE_DIR:-~/.cache/byok-ci}/mcp-servers.
# Progress goes to stderr; the LAST line on stdout is the install directory.
set -euo pipefail

EVERYTHING_VERSION=2026.8.31
TIME_VERSION=2026.10.19

CACHE="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
DIR="$CACHE/mcp-servers"
STAMP="$DIR/.stamp-$EVERYTHING_VERSION-$TIME_VERSION"
PY="${BYOK_MCP_SERVERS_PYTHON:-python3}"

log() { printf '[mcp_servers/setup] %s\n' "$*" >&2; }

mkdir -p "$DIR"
exec 9>"$CACHE/.mcp-servers.lock"
command -v flock >/dev/null 2>&1 && flock 9

if [[ ! -f "$STAMP" ]]; then
    log "npm: @modelcontextprotocol/server-everything@$EVERYTHING_VERSION"
    mkdir -p "$DIR/node"
    [[ -f "$DIR/node/package.json" ]] || printf '{"name":"byok-mcp-servers","private":true}\n' >"$DIR/node/package.json"
    (cd "$DIR/node" && npm install --no-audit --no-fund --loglevel=error \
        "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" >&2)
    log "venv: mcp-server-time==$TIME_VERSION"
    [[ -x "$DIR/venv/bin/python" ]] || "$PY" -m venv "$DIR/venv"
    "$DIR/venv/bin/python" -m pip install -q --upgrade pip >&2 || true
    "$DIR/venv/bin/python" -m pip install -q "mcp-server-time==$TIME_VERSION" >&2
    touch "$STAMP"
else
    log "reusing $DIR"
fi
echo "$DIR"
