"""benchmarks/streaming.py end to end on the tiny tone-burst keyword model: streams from its held-out
speakers, the DET sweep on torch and ONNX, the per-hop cost, the table, the JSON and the plot."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "streaming.py"


@pytest.mark.slow
def test_the_streaming_benchmark_scores_held_out_words_on_both_engines(kws_run, tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), str(kws_run), "--onnx", "--hours", "0.05",
                           "--live-seconds", "5", "--name", "tiny", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "<=1 FA/h" in done.stdout and "wall_ms_median" in done.stdout
    result = json.loads((tmp_path / "streaming_tiny.json").read_text())
    assert (tmp_path / "det_tiny.png").stat().st_size > 10_000
    assert result["streams"]["negative_hours"] >= 0.05 and result["streams"]["keywords"] >= 10
    torch_run, onnx_run = result["engines"]["torch"], result["engines"]["onnx"]
    assert (torch_run["engine"], onnx_run["engine"]) == ("frames", "windows")
    # The tiny model learned its words: most held-out ones are found at the default threshold ...
    assert torch_run["default"]["miss_rate"] <= 0.3
    assert torch_run["default"]["latency_median_s"] is not None and torch_run["default"]["latency_median_s"] < 1.0
    # ... the curve trades misses for false accepts ...
    curve = torch_run["curve"]
    assert curve["miss_rate"][0] <= curve["miss_rate"][-1]
    assert curve["false_accepts_per_hour"][0] >= curve["false_accepts_per_hour"][-1]
    # ... and the exported model gives the same curve (float32 ONNX vs torch: a word or two may flip).
    for a, b in zip(curve["miss_rate"], onnx_run["curve"]["miss_rate"]):
        assert abs(a - b) <= 2 / result["streams"]["keywords"]
    assert 0 < torch_run["per_hop"]["rtf_cpu"] < 1 and torch_run["per_hop"]["hops"] >= 30


def test_a_model_without_background_classes_is_refused_in_one_line(finished_tiny_run, tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), str(finished_tiny_run), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "needs keywords, _unknown_ and _silence_ clips" in done.stderr.strip().splitlines()[-1]
