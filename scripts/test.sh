#!/usr/bin/env bash
# Set everything up, then run the linter and every test (engines and browser included). The
# real-textgen tests run twice: on textgen 4.7.3 with the project's Python, then on textgen 4.9
# with Python 3.13 (the Python of textgen's portable builds). Arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh test
printf '\n==> ruff\n'
.venv/bin/ruff check .
printf '\n==> mypy\n'
.venv/bin/mypy
printf '\n==> pytest (the real-textgen tests on textgen 4.7.3)\n'
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
printf '\n==> pytest: the real-textgen tests again, on textgen 4.9 with Python 3.13\n'
textgen_start=$(date +%s)
[ $# -gt 0 ] || set -- tests/textgen
second=0
SESSION_MANAGER_TEXTGEN_VERSION=4.9 .venv/bin/python -m pytest -q -m textgen "$@" || second=$?
[ "$second" = 5 ] && second=0  # the arguments chose no real-textgen test
echo "the textgen 4.9 run took $(( $(date +%s) - textgen_start )) s"
echo "test command took $(( $(date +%s) - start )) s"
[ "$status" = 0 ] && exit "$second" || exit "$status"
