#!/usr/bin/env bash
# Install what the VS Code end-to-end test needs, into a cache dir outside the repo (reused when present):
#   code-server 4.100.3 (npm; a real VS Code 1.100.3 on Node 20), playwright-core (npm), Debian chromium.
# Only the npm registry and Debian's packages are used; nothing is downloaded from anywhere else.
# Prints the cache dir on its last line.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_CORE_VERSION=1.56.1
CACHE="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
STAMP="$CACHE/.e2e-vscode-v1-$CODE_SERVER_VERSION-$PLAYWRIGHT_CORE_VERSION"
mkdir -p "$CACHE"

log() { printf 'e2e setup: %s\n' "$*" >&2; }

need_debs=()
command -v chromium >/dev/null || need_debs+=(chromium)
command -v rg >/dev/null || need_debs+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_debs+=(libkrb5-dev)
command -v node >/dev/null || need_debs+=(nodejs npm)
if ((${#need_debs[@]})); then
  log "installing Debian packages: ${need_debs[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_debs[@]}" fonts-liberation >/dev/null
fi

if [ -f "$STAMP" ] && [ -x "$CACHE/node_modules/.bin/code-server" ] \
   && [ -d "$CACHE/node_modules/playwright-core" ]; then
  log "reusing $CACHE"
  echo "$CACHE"
  exit 0
fi

# @vscode/ripgrep's postinstall downloads from GitHub unless it finds this tarball in its cache dir:
# make it from Debian's ripgrep binary.
tmp="${TMPDIR:-/tmp}"
rgcache="$tmp/vscode-ripgrep-cache-1.15.11"
mkdir -p "$rgcache"
rgtar="$rgcache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$rgtar" ]; then
  stage="$(mktemp -d)"
  mkdir -p "$stage/bin"
  cp "$(command -v rg)" "$stage/bin/rg"
  tar -czf "$rgtar" -C "$stage" bin/rg
  # the postinstall also accepts a bare rg at the top of the archive; keep both layouts
  tar -czf "$rgtar.tmp" -C "$stage/bin" rg -C "$stage" bin/rg && mv "$rgtar.tmp" "$rgtar"
  rm -rf "$stage"
fi

cd "$CACHE"
[ -f package.json ] || echo '{"name":"byok-e2e-cache","private":true}' >package.json
extra=()
[ "$(id -u)" = 0 ] && extra+=(--unsafe-perm)
log "npm install code-server@$CODE_SERVER_VERSION playwright-core@$PLAYWRIGHT_CORE_VERSION into $CACHE"
npm_config_yes=true npm install --no-audit --no-fund --loglevel=error "${extra[@]}" \
  "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_CORE_VERSION" >&2
XDG_CONFIG_HOME="$CACHE/xdg-config" XDG_DATA_HOME="$CACHE/xdg-data" "$CACHE/node_modules/.bin/code-server" --version >&2
touch "$STAMP"
echo "$CACHE"
