#!/usr/bin/env bash
# Build the environment and run the test suite (offscreen; no GPU, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
BIRDLAB_EXTRAS="${BIRDLAB_EXTRAS:-gui,test,train,birdnet}" bash scripts/setup-env.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
