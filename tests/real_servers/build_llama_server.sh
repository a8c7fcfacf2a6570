#!/usr/bin/env bash
# Build (or reuse) llama.cpp's own C++ `llama-server` (the server with /props, /slots, /v1/models meta),
# from the llama.cpp sources vendored in the llama-cpp-python sdist on PyPI — the same llama.cpp the
# llama-cpp-python wheel is built from. CPU only, no network at build time (no prebuilt web UI, no curl).
# ~10 min on 2 cores the first time; cached under ${BYOK_CACHE_DIR:-~/.cache/byok-ci}/llama-server-<version>.
# Progress goes to stderr; the LAST line on stdout is the path of the binary.
set -euo pipefail

LLAMA_VERSION="${1:?llama-cpp-python version}"
CACHE="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
DEST="$CACHE/llama-server-$LLAMA_VERSION"
BIN="$DEST/bin/llama-server"
PY="${BYOK_REALSERVERS_PYTHON:-python3}"

log() { printf '[real_servers/llama-server] %s\n' "$*" >&2; }

if [[ -x "$BIN" ]]; then
    log "reusing $BIN"
    echo "$BIN"
    exit 0
fi
mkdir -p "$CACHE"
tmp="$(mktemp -d "$CACHE/.llama-server.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "building llama-server from llama-cpp-python $LLAMA_VERSION's vendored llama.cpp (~10 min on 2 cores)"
"$PY" -m venv "$tmp/buildenv"
"$tmp/buildenv/bin/pip" install -q cmake ninja >&2   # the build tools from PyPI, whatever the system has
"$tmp/buildenv/bin/pip" download -q --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$LLAMA_VERSION" >&2
tar -xzf "$tmp"/llama_cpp_python-"$LLAMA_VERSION".tar.gz -C "$tmp"
src="$tmp/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
PATH="$tmp/buildenv/bin:$PATH" cmake -S "$src" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >&2
PATH="$tmp/buildenv/bin:$PATH" cmake --build "$tmp/build" --target llama-server \
    -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" >&2
mkdir -p "$tmp/out/bin"
cp "$tmp/build/bin/llama-server" "$tmp/out/bin/"
rm -rf "$DEST"
mv "$tmp/out" "$DEST"   # atomic within the same filesystem
log "built $BIN"
echo "$BIN"
