"""Decode + resample throughput: sonogram's cache build and cached reads vs ``librosa.load`` in a loop.

    python benchmarks/io.py [--data-root DIR] [--limit N]

Prints a table and writes benchmarks/results/io.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, print_table, write_json  # noqa: E402

from sonogram.audio import fix_length  # noqa: E402
from sonogram.data import WaveformDataset, WaveformSpec, build_cache, load_dataset  # noqa: E402

CASES = [("fsdd", WaveformSpec(8000, 8000)), ("fsdd", WaveformSpec(16000, 16000)),
         ("speech_commands_test", WaveformSpec(16000, 16000))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--limit", type=int, default=1000, help="clips per dataset for the librosa loop")
    args = parser.parse_args()
    rows = []
    for name, spec in CASES:
        corpus = load_dataset(name, args.data_root)
        subset = corpus.clips[: args.limit]

        def librosa_loop():
            for clip in subset:
                y, _ = librosa.load(clip.path, sr=spec.sample_rate)
                fix_length(y, spec.length)

        librosa.load(subset[0].path, sr=spec.sample_rate)  # warm-up: librosa imports its resampler lazily
        t_librosa = best_of(librosa_loop, repeat=1)
        with tempfile.TemporaryDirectory() as cache_dir:
            t_build = best_of(lambda: build_cache(corpus, spec, cache_dir), repeat=1)
            waveforms = build_cache(corpus, spec, cache_dir)
            loader = torch.utils.data.DataLoader(WaveformDataset(waveforms, corpus.targets), batch_size=256, shuffle=True)
            t_read = best_of(lambda: [x.sum() for x, _ in loader], repeat=3)
            t_reopen = best_of(lambda: build_cache(corpus, spec, cache_dir), repeat=3)
        rows.append({
            "dataset": name, "rate": spec.sample_rate, "clips": len(corpus),
            "librosa.load clips/s": len(subset) / t_librosa,
            "cache build clips/s": len(corpus) / t_build,
            "build speedup": (len(corpus) / t_build) / (len(subset) / t_librosa),
            "cached epoch clips/s": len(corpus) / t_read,
            "reopen s": t_reopen,
        })
        print(f"{name} @ {spec.sample_rate} Hz done", file=sys.stderr)
    columns = list(rows[0])
    print_table(rows, columns)
    write_json("io", rows)


if __name__ == "__main__":
    np.random.seed(0)
    main()
