#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job on FSDD.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SONOGRAM_DATA=${SONOGRAM_DATA:-$(cd .. && pwd)/shared/data}
.venv/bin/sonogram datasets
echo
.venv/bin/sonogram datasets fsdd
