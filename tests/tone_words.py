"""Tone-burst "words" and a tiny keyword model trained on them in seconds (for listen and the streaming benchmark)."""

from pathlib import Path

import numpy as np
import soundfile

RATE = 8000
WORDS = ("high", "low", "_unknown_")  # "words" of different shapes: a harmonic pair, a chirp, three blips


def background_noise(rng: np.random.Generator, n: int, level: float) -> np.ndarray:
    white = rng.standard_normal(n)
    colour = rng.choice(["white", "brown"])
    noise = np.cumsum(white) if colour == "brown" else white
    noise = noise - np.convolve(noise, np.ones(200) / 200, mode="same") if colour == "brown" else noise
    return (level * noise / (noise.std() + 1e-12)).astype(np.float32)


def tone_burst(rng: np.random.Generator, word: str, seconds: float = 0.35) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f = rng.uniform(0.95, 1.05)
    if word == "high":
        wave = np.sin(2 * np.pi * 1500 * f * t) + 0.7 * np.sin(2 * np.pi * 3000 * f * t)
    elif word == "low":
        wave = np.sin(2 * np.pi * f * (300 * t + 0.5 * 1200 / seconds * t ** 2))  # 300 -> 1500 Hz
    else:
        wave = np.sin(2 * np.pi * 1000 * f * t) * ((t % 0.12) < 0.06)
    return (rng.uniform(0.2, 0.6) * np.sin(np.pi * t / seconds) ** 2 * wave).astype(np.float32)


def train_kws_run(root: Path) -> Path:
    """In ``root``: a run trained on one-second clips: each word at a random place in noise, and noise alone as _silence_."""
    from sonogram.engine.train import train_run
    from sonogram.recipe import recipe_from_dict

    rng = np.random.default_rng(0)
    for label in [*WORDS, "_silence_"]:
        for speaker in range(6):
            for take in range(8):
                clip = background_noise(rng, RATE, rng.uniform(0.002, 0.05))
                if label != "_silence_":
                    burst = tone_burst(rng, label)
                    at = int(rng.integers(-len(burst) // 8, RATE - 7 * len(burst) // 8))  # some cut by the edges
                    clip[max(at, 0):at + len(burst)] += burst[max(-at, 0):RATE - at]
                path = root / "corpus" / label / f"s{speaker}_nohash_{take}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, clip, RATE)
    recipe = recipe_from_dict({
        "seed": 0,
        "dataset": {"name": "folder", "options": {"path": str(root / "corpus")}, "split": "kfold", "data_root": str(root)},
        "design": {"sample_rate": RATE, "num_samples": RATE,
                   "frontend": [{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 32}],
                   "model": {"name": "cnn", "channels": [8, 16], "pooling": "max", "dropout": 0.0,
                             "head_dropout": 0.0}},
        "optim": {"lr": 0.01},
        "train": {"epochs": 10, "batch_size": 16, "progress": False, "accelerator": "cpu"},
    })
    run = root / "run"
    train_run(recipe, run)
    return run
