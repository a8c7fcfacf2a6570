#!/usr/bin/env bash
# Install the official ACP TypeScript SDK, one 1.x and one 2.x release, into the test cache (reused when
# present): $BYOK_CACHE_DIR/acp-sdk-1 and acp-sdk-2. Only the npm registry is used. Prints the cache dir.
set -euo pipefail
CACHE="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
for pair in "1:1.9.0" "2:2.4.0"; do
  major="${pair%%:*}" version="${pair#*:}"
  dir="$CACHE/acp-sdk-$major"
  if [ -f "$dir/.installed-$version" ]; then continue; fi
  printf 'acp sdk setup: installing @agentclientprotocol/sdk@%s into %s\n' "$version" "$dir" >&2
  mkdir -p "$dir"
  (cd "$dir" && printf '{"name":"byok-acp-sdk-%s","private":true}\n' "$major" > package.json \
    && npm install --no-audit --no-fund --loglevel=error "@agentclientprotocol/sdk@$version" >&2)
  touch "$dir/.installed-$version"
done
echo "$CACHE"
