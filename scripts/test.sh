#!/usr/bin/env bash
# Set everything up, then run the linter and every test (engines and browser included).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh test
printf '\n==> ruff\n'
.venv/bin/ruff check .
printf '\n==> mypy\n'
.venv/bin/mypy
printf '\n==> pytest\n'
.venv/bin/python -m pytest -q "$@"
echo "test command took $(( $(date +%s) - start )) s"
