"""Front-end throughput: sonogram layers vs librosa (one clip at a time and batched) and nnAudio, and this machine's limit.

    python benchmarks/frontends.py [--repeat 7] [--threads N] [--batches 1 256]

1-second clips at 8 and 16 kHz. Each row's contenders take turns, one call each per round, for
``--repeat`` rounds, so all of them see the same machine load; a row reports the median clips/s and
its min-max spread over the rounds, and each ratio is the median of the per-round ratios. "x per
clip" compares sonogram on the whole batch with librosa called one clip at a time; "x batched"
with librosa given the whole batch; "x nnAudio" with nnAudio on the same batch. "max |diff|" is
against librosa on the same batch (dB for log-mel and MFCC).

The "limit" rows estimate what this machine can do at all: a float32 real FFT of every frame
(contiguous, cache-sized chunks) plus the dense mel product at the measured matrix-multiply rate,
with no framing, padding or logarithm; no front-end can beat it by much. Where CUDA is available
each row adds the same layer on the GPU and its largest difference from the CPU output.

``--threads`` sets torch's threads and numpy's BLAS threads alike (librosa's mel product). The
"threads" rows time the default 16 kHz log-mel at batch 256 in fresh processes with 1 thread, 2
threads and 2 threads with ``OMP_WAIT_POLICY=PASSIVE``: with OpenMP's default spin-waiting, a
second thread makes every parallel step wait for a core whenever another process holds one.

Prints a table and writes benchmarks/results/frontends.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import torch
from nnAudio import features as nn_features
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, median, print_table, write_json  # noqa: E402

from sonogram.features import functional as Fn  # noqa: E402
from sonogram.features import layers as fe  # noqa: E402

SETTINGS = {8000: dict(n_fft=256, hop_length=80, n_mels=40), 16000: dict(n_fft=512, hop_length=160, n_mels=64)}
N_MFCC = 20
PER_CLIP = 32  # clips librosa handles one at a time per round


def to_db(x: torch.Tensor) -> torch.Tensor:
    return Fn.amplitude_to_db(x, top_db=80.0)


def cases(sr: int):
    """(name, sonogram layer, librosa function of a (batch, time) or (time,) array, nnAudio function or None)."""
    s = SETTINGS[sr]
    stft = dict(n_fft=s["n_fft"], hop_length=s["hop_length"], pad_mode="constant")
    mel = dict(sample_rate=sr, n_mels=s["n_mels"], norm="slaney", mel_scale="slaney", **stft)
    melkw = {k: v for k, v in mel.items() if k != "sample_rate"}
    lib_stft = dict(n_fft=s["n_fft"], hop_length=s["hop_length"], pad_mode="constant")

    def lib_mel(y):
        return librosa.feature.melspectrogram(y=y, sr=sr, n_mels=s["n_mels"], **lib_stft)

    nn_stft = nn_features.STFT(n_fft=s["n_fft"], hop_length=s["hop_length"], pad_mode="constant", output_format="Complex",
                               freq_scale="no", sr=sr, verbose=False)
    nn_mel = nn_features.MelSpectrogram(sr=sr, n_fft=s["n_fft"], n_mels=s["n_mels"], hop_length=s["hop_length"],
                                        pad_mode="constant", verbose=False)
    nn_mfcc = nn_features.MFCC(sr=sr, n_mfcc=N_MFCC, n_fft=s["n_fft"], n_mels=s["n_mels"], hop_length=s["hop_length"],
                               pad_mode="constant", verbose=False)
    return [
        ("spectrogram", fe.Spectrogram(**stft), lambda y: np.abs(librosa.stft(y, **lib_stft)) ** 2,
         lambda x: nn_stft(x).square().sum(-1)),
        ("complex", fe.Spectrogram(power=None, **stft),
         lambda y: (lambda z: np.stack([z.real, z.imag], axis=-3))(librosa.stft(y, **lib_stft)), nn_stft),
        ("mel", fe.MelSpectrogram(**mel), lib_mel, nn_mel),
        ("log-mel", fe.LogMelSpectrogram(top_db=80.0, **mel), lambda y: librosa.power_to_db(lib_mel(y), top_db=80.0),
         lambda x: to_db(nn_mel(x))),
        ("log-mel float64", fe.LogMelSpectrogram(top_db=80.0, float64_stft=True, **mel),
         lambda y: librosa.power_to_db(lib_mel(y), top_db=80.0), None),
        ("mfcc", fe.MFCC(sample_rate=sr, n_mfcc=N_MFCC, melkwargs=melkw),
         lambda y: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC, n_mels=s["n_mels"], **lib_stft), nn_mfcc),
    ]


def clips(sr: int, batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    tones = np.sin(2 * np.pi * rng.uniform(100, sr / 3, (batch, 1)) * t)
    return (0.3 * tones + 0.05 * rng.standard_normal((batch, sr))).astype(np.float32)


def machine_limit(sr: int, batch: int, repeat: int) -> dict:
    """Clips/s of a bare float32 rfft over every frame plus the dense mel product at the measured GEMM rate."""
    s = SETTINGS[sr]
    n_fft, frames = s["n_fft"], Fn.num_frames(sr, s["n_fft"], s["hop_length"])
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    gemm = median(interleaved({"mm": lambda: a @ b}, repeat)["mm"])
    gflops = 2 * 1024**3 / gemm / 1e9
    rows = max(1, Fn.CHUNK_BYTES // (frames * n_fft * 4))
    chunks = torch.randn(batch, frames, n_fft).split(rows)
    fft = median(interleaved({"rfft": lambda: [torch.fft.rfft(c, dim=-1) for c in chunks]}, repeat)["rfft"]) / batch
    mel_flops = 2 * frames * (n_fft // 2 + 1) * s["n_mels"]
    return {"gemm GFLOP/s": gflops, "rfft clips/s": 1 / fft, "limit clips/s": 1 / (fft + mel_flops / (gflops * 1e9))}


def bench_row(sr: int, name: str, layer, reference, peer, batch: int, repeat: int) -> dict:
    y = clips(sr, batch)
    x = torch.from_numpy(y)
    per_clip = clips(sr, PER_CLIP)
    contenders = {"sonogram": lambda: layer(x), "librosa batched": lambda: reference(y),
                  "librosa per clip": lambda: [reference(c) for c in per_clip]}
    if peer is not None:
        contenders["nnAudio"] = lambda: peer(x)
    if torch.cuda.is_available():
        gpu_layer, gpu_x = copy.deepcopy(layer).cuda(), x.cuda()
        contenders["sonogram cuda"] = lambda: (gpu_layer(gpu_x), torch.cuda.synchronize())
    times = interleaved(contenders, repeat)
    ours = np.array(times["sonogram"]) / batch
    per = {k: np.array(v) / (PER_CLIP if k == "librosa per clip" else batch) for k, v in times.items()}
    out = layer(x).numpy()
    expected = reference(y)
    row = {
        "rate": sr, "front-end": name, "batch": batch,
        "sonogram clips/s": 1 / median(ours), "spread": f"{1 / ours.max():,.0f}-{1 / ours.min():,.0f}",
        "librosa per-clip clips/s": 1 / median(per["librosa per clip"]),
        "librosa batched clips/s": 1 / median(per["librosa batched"]),
        "nnAudio clips/s": 1 / median(per["nnAudio"]) if peer is not None else None,
        "x per-clip": median(per["librosa per clip"] / ours),
        "x batched": median(per["librosa batched"] / ours),
        "x nnAudio": median(per["nnAudio"] / ours) if peer is not None else None,
        "max |diff|": float(np.abs(out - expected.reshape(out.shape)).max()),
    }
    if torch.cuda.is_available():
        row["cuda clips/s"] = 1 / median(per["sonogram cuda"])
        row["cuda-cpu max |diff|"] = float((gpu_layer(gpu_x).cpu() - layer(x)).abs().max())
    return row


def probe(repeat: int) -> None:
    """Time the default 16 kHz log-mel at batch 256 in this process and print one JSON line."""
    layer = cases(16000)[3][1]
    x = torch.from_numpy(clips(16000, 256))
    times = np.array(interleaved({"log-mel": lambda: layer(x)}, repeat)["log-mel"])
    print(json.dumps({"median": 256 / median(times), "min": 256 / times.max(), "max": 256 / times.min()}))


def thread_rows(repeat: int) -> list[dict]:
    rows = []
    for threads, passive in [(1, False), (2, False), (2, True)]:
        env = {**os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if passive else {})}
        out = subprocess.run([sys.executable, __file__, "--probe", "--threads", str(threads), "--repeat", str(repeat)],
                             env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        rows.append({"rate": 16000, "front-end": f"log-mel, {threads} thread(s){', passive wait' if passive else ''}",
                     "batch": 256, "sonogram clips/s": result["median"],
                     "spread": f"{result['min']:,.0f}-{result['max']:,.0f}"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per row (odd: a true median)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        if args.probe:
            probe(args.repeat)
        else:
            run(args)


def run(args: argparse.Namespace) -> None:
    rows, limits = [], {}
    for sr in SETTINGS:
        limits[sr] = machine_limit(sr, max(args.batches), args.repeat)
        rows.append({"rate": sr, "front-end": "limit: rfft + mel matmul", "batch": max(args.batches),
                     "sonogram clips/s": limits[sr]["limit clips/s"]})
        for name, layer, reference, peer in cases(sr):
            for batch in args.batches:
                rows.append(bench_row(sr, name, layer, reference, peer, batch, args.repeat))
            print(f"{sr} Hz {name} done", file=sys.stderr)
    rows += thread_rows(args.repeat)
    print_table(rows, list(rows[1]))
    write_json("frontends", rows, threads=args.threads, settings={str(k): v for k, v in SETTINGS.items()}, repeat=args.repeat,
               limits={str(k): v for k, v in limits.items()})


if __name__ == "__main__":
    main()
