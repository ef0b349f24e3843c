"""Digits from voices and microphones a model never met: runs trained on FSDD, scored on the Speech
Commands v0.02 test set's 240 spoken digits (``_unknown_/{zero..nine}_{speaker}_nohash_{n}.wav``, 118
speakers, 16 kHz, one second each).

Each clip goes through the run's own Predictor, as ``sonogram predict`` would send it: decoded,
resampled to the run's rate and fitted to its input. Prints a table and writes
``benchmarks/results/cross_corpus.json``.

Usage:
    python benchmarks/cross_corpus.py RUN [RUN ...] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from common import print_table, write_json

from sonogram.data import resolve_data_root
from sonogram.evaluate import classification_metrics
from sonogram.inference.predictor import Predictor

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CLIP = re.compile(r"^([a-z]+)_([^_]+)_nohash_\d+")


def sc_digits(data_root: Path) -> tuple[list[Path], list[int]]:
    """The SC test set's spoken digits and their digit (0-9), in file-name order."""
    folder = data_root / "speech_commands_v0.02_test" / "_unknown_"
    if not folder.is_dir():
        raise SystemExit(f"cross_corpus: no Speech Commands test set at {folder.parent}")
    paths, digits = [], []
    for path in sorted(folder.glob("*.wav")):
        match = CLIP.match(path.name)
        if match and match.group(1) in WORDS:
            paths.append(path)
            digits.append(WORDS.index(match.group(1)))
    return paths, digits


def score_run(run: Path, paths: list[Path], digits: list[int]) -> dict:
    predictor = Predictor.open(run)
    labels = [str(d) for d in range(10)]
    if sorted(predictor.labels) != labels:
        raise SystemExit(f"cross_corpus: {run} classifies {predictor.labels}, not the digits 0-9")
    start = time.perf_counter()
    predictions = list(predictor.predict_files(paths))
    seconds = time.perf_counter() - start
    if any(not hasattr(p, "label") for p in predictions):
        raise SystemExit(f"cross_corpus: {run}: {next(p for p in predictions if not hasattr(p, 'label'))}")
    metrics = classification_metrics(digits, [labels.index(p.label) for p in predictions], labels)
    return {"run": str(run), "recipe": _recipe(run), "clips": len(paths), "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"], "ms_per_clip": 1000 * seconds / len(paths),
            "confusion": metrics["confusion"]}


def _recipe(run: Path) -> str:
    try:
        return json.loads((run / "metrics.json").read_text()).get("recipe", "")
    except (OSError, ValueError, AttributeError):
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders trained on FSDD digits")
    parser.add_argument("--data", type=Path, default=None, help="the data root (default: $SONOGRAM_DATA)")
    args = parser.parse_args()
    paths, digits = sc_digits(resolve_data_root(args.data))
    rows = [score_run(run, paths, digits) for run in args.runs]
    print_table(rows, ["recipe", "run", "clips", "accuracy", "macro_f1", "ms_per_clip"])
    write_json("cross_corpus", rows, corpus="Speech Commands v0.02 test set, 240 spoken digits, 118 speakers")


if __name__ == "__main__":
    main()
