"""Prediction throughput: files one at a time (decode, one network call per file) against sonogram's
batched ``Predictor.predict_files``, on the same FSDD files with the bundled FSDD design.

    python benchmarks/predict.py [--data-root DIR] [--files N] [--repeat R]

The network's weights do not change its speed, so it is built from ``recipes/fsdd.yaml`` untrained.
Prints a table (medians of R repeats, with min and max) and writes benchmarks/results/predict.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_json  # noqa: E402

from sonogram.audio import fix_length, load  # noqa: E402
from sonogram.data import load_dataset  # noqa: E402
from sonogram.inference.predictor import Predictor  # noqa: E402
from sonogram.network.design import build_network  # noqa: E402
from sonogram.recipe import load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def one_at_a_time(predictor: Predictor, paths: list[str]) -> None:
    """What ``sonogram predict`` did before batching: decode a file, run the network on it alone."""
    with torch.no_grad():
        for path in paths:
            waveform, _ = load(path, predictor.sample_rate)
            clip = fix_length(waveform, predictor.num_samples, predictor.align)
            predictor.network(torch.from_numpy(clip)[None]).softmax(-1)


def batched(predictor: Predictor, paths: list[str]) -> None:
    for result in predictor.predict_files(paths):
        assert not isinstance(result, Exception), result


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    recipe = load_recipe(REPO / "recipes" / "fsdd.yaml")
    corpus = load_dataset("fsdd", args.data_root)
    recipe.design.num_classes = len(corpus.classes)
    paths = [clip.path for clip in corpus.clips[: args.files]]
    predictor = Predictor.from_network(build_network(recipe.design), list(corpus.classes))
    batched(predictor, paths[:64])  # warm-up: first calls allocate
    rows = []
    for name, fn in (("one file at a time", one_at_a_time), ("batched (predict_files, 64)", batched)):
        times = timed(lambda: fn(predictor, paths), args.repeat)
        median = statistics.median(times)
        rows.append({"mode": name, "files": len(paths), "clips_per_s": len(paths) / median,
                     "median_s": median, "min_s": min(times), "max_s": max(times)})
    rows[1]["speedup"] = rows[0]["median_s"] / rows[1]["median_s"]
    print_table(rows, ["mode", "files", "clips_per_s", "median_s", "min_s", "max_s", "speedup"])
    write_json("predict", rows, design="recipes/fsdd.yaml", repeat=args.repeat,
               note=f"{len(paths)} FSDD files, 8 kHz, 1 s network input")


if __name__ == "__main__":
    main()
