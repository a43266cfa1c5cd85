#!/usr/bin/env bash
# Try Session Manager in the real textgen by hand: the same textgen (commit 1dcde41, llama.cpp,
# the embedded Gemma 3 270M) that the tests in tests/textgen use, on http://127.0.0.1:7860.
# textgen comes from $SESSION_MANAGER_TEXTGEN, or is installed once into ~/.cache/session-manager/.
# Options: --port N, --dir DIR (sessions, settings and logs, kept between runs), --api. Ctrl+C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
PYTHONPATH=tests exec .venv/bin/python -m textgen.textgen_server "$@"
