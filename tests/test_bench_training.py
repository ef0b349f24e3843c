"""benchmarks/training.py end to end on the tiny recipe with a small CNN: the epoch profile, the
engine against the hand-written loop, the step variants, the table and the JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "training.py"


@pytest.mark.slow
def test_the_training_benchmark_profiles_an_epoch_and_times_the_engine_and_step_variants(tiny_recipe, tmp_path):
    tiny_recipe["design"]["frontend"] = [{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 20},
                                         {"name": "normalize", "mode": "utterance"}]
    tiny_recipe["design"]["model"] = {"name": "cnn", "channels": [4, 8]}
    recipe = tmp_path / "tiny_cnn.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe))
    done = subprocess.run([sys.executable, str(BENCH), "--recipe", str(recipe), "--epochs", "2", "--repeat", "3",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "engine overhead" in done.stdout and "x NCHW float32" in done.stdout
    result = json.loads((tmp_path / "training.json").read_text())
    phases = {p["phase"]: p["seconds"] for p in result["phases"]}
    for phase in ("augmentation", "front-end", "model forward + loss", "backward", "optimiser + schedule", "validation"):
        assert phases[phase] > 0
    row = result["rows"][0]
    assert [len(b) for b in row["loop epochs s"]] == [2, 2, 2] and [len(b) for b in row["engine epochs s"]] == [2, 2]
    assert len(row["overhead per engine block"]) == 2
    assert row["engine overhead"] == pytest.approx(sum(row["overhead per engine block"]) / 2)  # median of two
    steps = {s["step"]: s for s in result["steps"]}
    assert set(steps) == {"NCHW, float32", "NCHW, bf16 autocast", "channels-last, float32",
                          "channels-last, bf16 autocast"}
    assert steps["NCHW, float32"]["x NCHW float32"] == 1.0
    assert all(s["ms (median)"] > 0 for s in steps.values())
