#!/usr/bin/env bash
# The main job: set everything up, then start the demo host on http://127.0.0.1:7861
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
exec .venv/bin/session-manager demo "$@"
