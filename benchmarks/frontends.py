"""Front-end throughput: sonogram layers vs librosa one clip at a time and librosa on a whole batch.

    python benchmarks/frontends.py [--quick]

1-second clips at 8 and 16 kHz, batch sizes 1, 64 and 256, measured side by side in one run;
"max |diff|" is against librosa on the same batch (dB for log-mel and MFCC). Prints a table and
writes benchmarks/results/frontends.json. On a machine with CUDA it adds GPU rows. "log-mel fast"
and "mfcc fast" are the same layers with ``float64_stft=False`` (a float32 FFT: faster, less exact in quiet bins).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, print_table, write_json  # noqa: E402

from sonogram.features import layers as fe  # noqa: E402

SETTINGS = {8000: dict(n_fft=256, hop_length=80, n_mels=40), 16000: dict(n_fft=512, hop_length=160, n_mels=64)}
N_MFCC = 20


def cases(sr: int):
    """(name, sonogram layer, librosa function of a (batch, time) or (time,) array) per representation."""
    s = SETTINGS[sr]
    stft = dict(n_fft=s["n_fft"], hop_length=s["hop_length"], pad_mode="constant")
    mel = dict(sample_rate=sr, n_mels=s["n_mels"], norm="slaney", mel_scale="slaney", **stft)
    lib_stft = dict(n_fft=s["n_fft"], hop_length=s["hop_length"])
    return [
        ("spectrogram", fe.Spectrogram(**stft), lambda y: np.abs(librosa.stft(y, **lib_stft)) ** 2),
        ("complex", fe.Spectrogram(power=None, **stft),
         lambda y: (lambda z: np.stack([z.real, z.imag], axis=-3))(librosa.stft(y, **lib_stft))),
        ("mel", fe.MelSpectrogram(**mel), lambda y: librosa.feature.melspectrogram(y=y, sr=sr, n_mels=s["n_mels"], **lib_stft)),
        ("log-mel", fe.LogMelSpectrogram(top_db=80.0, **mel),
         lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=s["n_mels"], **lib_stft), top_db=80.0)),
        ("log-mel fast", fe.LogMelSpectrogram(top_db=80.0, float64_stft=False, **mel),
         lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=s["n_mels"], **lib_stft), top_db=80.0)),
        ("mfcc", fe.MFCC(sample_rate=sr, n_mfcc=N_MFCC, melkwargs={k: v for k, v in mel.items() if k != "sample_rate"}),
         lambda y: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC, n_mels=s["n_mels"], **lib_stft)),
        ("mfcc fast", fe.MFCC(sample_rate=sr, n_mfcc=N_MFCC,
                              melkwargs={**{k: v for k, v in mel.items() if k != "sample_rate"}, "float64_stft": False}),
         lambda y: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=N_MFCC, n_mels=s["n_mels"], **lib_stft)),
    ]


def clips(sr: int, batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    tones = np.sin(2 * np.pi * rng.uniform(100, sr / 3, (batch, 1)) * t)
    return (0.3 * tones + 0.05 * rng.standard_normal((batch, sr))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    torch.set_grad_enabled(False)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for sr in SETTINGS:
        for name, layer, reference in cases(sr):
            per_clip_input = clips(sr, 32)
            reference(per_clip_input[0])  # warm-up (librosa caches filterbanks)
            t_clip = best_of(lambda: [reference(y) for y in per_clip_input], repeat) / len(per_clip_input)
            for batch in (1, 64, 256):
                y = clips(sr, batch)
                t_batched = best_of(lambda: reference(y), repeat) / batch
                expected = reference(y)
                for device in devices:
                    module = layer.to(device)
                    x = torch.from_numpy(y).to(device)
                    module(x)

                    def run():
                        module(x)
                        if device == "cuda":
                            torch.cuda.synchronize()

                    t_ours = best_of(run, repeat) / batch
                    out = module(x).cpu().numpy()
                    diff = float(np.abs(out - expected.reshape(out.shape)).max())
                    rows.append({
                        "rate": sr, "front-end": name, "batch": batch, "device": device,
                        "sonogram clips/s": 1 / t_ours,
                        "librosa per-clip clips/s": 1 / t_clip,
                        "librosa batched clips/s": 1 / t_batched,
                        "x per-clip": t_clip / t_ours,
                        "x batched": t_batched / t_ours,
                        "max |diff|": diff,
                    })
            print(f"{sr} Hz {name} done", file=sys.stderr)
    print_table(rows, list(rows[0]))
    write_json("frontends", rows, settings={str(k): v for k, v in SETTINGS.items()})


if __name__ == "__main__":
    main()
