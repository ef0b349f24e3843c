"""Use a finished run: load its ``model.pt`` and predict audio files at any sample rate.

Needs only torch, soundfile and soxr: never the training framework.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sonogram.audio import AUDIO_SUFFIXES, AudioError, fix_length, load
from sonogram.network.checkpoint import load_checkpoint
from sonogram.network.design import Network
from sonogram.errors import ConfigError


@dataclass
class Prediction:
    path: str
    label: str
    probabilities: dict[str, float]

    def as_json(self) -> dict:
        return {"path": self.path, "label": self.label, "probabilities": self.probabilities}


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Network, dict]:
    """The best network of a run folder (eval mode) and its checkpoint (``labels``, ``align``, ``epoch``...)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder")
    if not (run_dir / "model.pt").is_file():
        raise ConfigError(f"{run_dir}: no model.pt yet (is training still running or was it interrupted?)")
    return load_checkpoint(run_dir / "model.pt", device)


def expand_paths(paths: list[str | Path]) -> Iterator[Path]:
    """Files as given (whatever their suffix: a bad one gets its own error) and audio files inside folders."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            yield path


@torch.no_grad()
def predict_waveform(network: Network, labels: list[str], waveform: np.ndarray, path: str = "",
                     align: str = "center") -> Prediction:
    """Predict one mono clip already at the network's sample rate, padded/cut to its length as in training."""
    clip = fix_length(np.asarray(waveform, dtype=np.float32), network.design.num_samples, align)
    device = next(network.parameters()).device
    probabilities = network(torch.from_numpy(clip)[None].to(device)).softmax(-1)[0].cpu()
    return Prediction(path, labels[int(probabilities.argmax())],
                      {label: round(float(p), 6) for label, p in zip(labels, probabilities)})


def predict_files(network: Network, labels: list[str], paths: list[str | Path], align: str = "center",
                  max_seconds: float = 600.0) -> Iterator[Prediction | AudioError]:
    """One :class:`Prediction` per readable file, or the :class:`AudioError` that names the unreadable one."""
    for path in expand_paths(paths):
        try:
            waveform, _ = load(path, network.design.sample_rate, max_seconds=max_seconds)
        except AudioError as exc:
            yield exc
            continue
        yield predict_waveform(network, labels, waveform, str(path), align)


@torch.no_grad()
def sliding_probabilities(network: Network, waveform: np.ndarray, hop_seconds: float = 0.05,
                          batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of a window the network's length slid along a clip of any length.

    The clip is zero-padded by half a window at both ends so that window centres span it.
    Returns window centre times ``(positions,)`` in seconds and probabilities ``(positions, classes)``.
    Works for every model, since each window is an ordinary network input.
    """
    rate, length = network.design.sample_rate, network.design.num_samples
    hop = max(1, int(round(hop_seconds * rate)))
    half = length // 2
    padded = np.pad(np.asarray(waveform, dtype=np.float32), (half, length - half))
    starts = np.arange(0, max(1, len(waveform)), hop)
    windows = torch.from_numpy(np.stack([padded[s:s + length] for s in starts]))  # (positions, num_samples)
    device = next(network.parameters()).device
    probabilities = torch.cat([network(chunk.to(device)).softmax(-1).cpu() for chunk in windows.split(batch_size)])
    return starts / rate, probabilities.numpy()
