#!/usr/bin/env bash
# Create .venv and install sonogram into it. torch goes in first, pinned, so that nothing later
# pulls a different build: on a CPU machine with a local torch 2.13.0 wheel this takes that wheel;
# elsewhere set TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2086
    .venv/bin/pip install --quiet ${TORCH_SPEC:-torch==2.13.0} 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/pip install --quiet -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
# The pretrained ResNet-50's weights ship in EfficientWord-Net's wheel; its own dependencies (pyaudio, typer,
# twine) are not needed to read them, and pyaudio does not build without PortAudio's headers.
.venv/bin/pip install --quiet --no-deps "efficientword-net==1.0.5" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import sonogram, torch; print(f'sonogram {sonogram.__version__} with torch {torch.__version__}')"
