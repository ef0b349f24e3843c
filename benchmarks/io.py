"""Decode + resample throughput: sonogram's cache build (serial and with worker processes) vs a bare ``librosa.load`` loop.

    python benchmarks/io.py [--data-root DIR] [--limit N] [--repeat 3]

The three decoders take turns on the same clips, ``--repeat`` rounds, each build into an empty
folder; a row gives medians (clips/s) and the median of the per-round ratios of each build to the
librosa loop. The cache build runs every check it runs in training (truncation, empty or NaN
audio, length limit); the librosa loop checks nothing. "cached epoch" reads every clip through the
memory-mapped cache and a DataLoader; "reopen s" is finding and mapping a cache that exists.

Prints a table and writes benchmarks/results/io.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, median, print_table, write_json  # noqa: E402

from sonogram.audio import fix_length  # noqa: E402
from sonogram.data import WaveformDataset, WaveformSpec, build_cache, load_dataset  # noqa: E402

CASES = [("fsdd", WaveformSpec(8000, 8000)), ("fsdd", WaveformSpec(16000, 16000)),
         ("speech_commands_test", WaveformSpec(16000, 16000))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root")
    parser.add_argument("--limit", type=int, help="first N clips of each dataset (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    rows = []
    for name, spec in CASES:
        corpus = load_dataset(name, args.data_root)
        if args.limit:
            corpus = replace(corpus, clips=corpus.clips[: args.limit])
        clips = corpus.clips

        def librosa_loop():
            for clip in clips:
                y, _ = librosa.load(clip.path, sr=spec.sample_rate)
                fix_length(y, spec.length)

        def build(n: int):
            with tempfile.TemporaryDirectory() as folder:
                build_cache(corpus, spec, folder, workers=n)

        times = interleaved({"librosa": librosa_loop, "serial": lambda: build(1), "pool": lambda: build(workers)},
                            args.repeat)
        lib, serial, pool = (np.array(times[k]) for k in ("librosa", "serial", "pool"))
        with tempfile.TemporaryDirectory() as folder:
            waveforms = build_cache(corpus, spec, folder)
            targets = np.zeros(len(clips), dtype=np.int64)
            loader = torch.utils.data.DataLoader(WaveformDataset(waveforms, targets), batch_size=256, shuffle=True)
            reads = interleaved({"read": lambda: [x.sum() for x, _ in loader],
                                 "reopen": lambda: build_cache(corpus, spec, folder)}, args.repeat)
        n = len(clips)
        rows.append({
            "dataset": name, "rate": spec.sample_rate, "clips": n,
            "librosa.load clips/s": n / median(lib),
            "build clips/s (1 process)": n / median(serial),
            f"build clips/s ({workers} processes)": n / median(pool),
            "x librosa (1)": median(lib / serial), f"x librosa ({workers})": median(lib / pool),
            "cached epoch clips/s": n / median(reads["read"]), "reopen s": median(reads["reopen"]),
        })
        print(f"{name} @ {spec.sample_rate} Hz done", file=sys.stderr)
    print_table(rows, list(rows[0]))
    write_json("io", rows, repeat=args.repeat)


if __name__ == "__main__":
    main()
