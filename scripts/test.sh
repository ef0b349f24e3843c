#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SONOGRAM_DATA=${SONOGRAM_DATA:-$(cd .. && pwd)/shared/data}
exec .venv/bin/python -m pytest "$@"
