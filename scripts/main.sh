#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: train, evaluate and report on FSDD.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SONOGRAM_DATA=${SONOGRAM_DATA:-$(cd .. && pwd)/shared/data}
.venv/bin/sonogram datasets
echo
run=runs/fsdd-$(date +%Y%m%d-%H%M%S)
.venv/bin/sonogram train recipes/fsdd.yaml --out "$run"
echo
.venv/bin/sonogram evaluate "$run"
