"""What a prediction is, and which files a list of paths names: shared by every backend, free of torch.

Example:
    >>> Prediction("a.wav", "yes", {"no": 0.1, "yes": 0.9}).as_json()["label"]
    'yes'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonogram.audio import AUDIO_SUFFIXES


@dataclass
class Prediction:
    """One clip's answer. ``seconds`` is the clip's duration; ``note`` says what was done to fit it to
    the network's input (or what is odd about it), if anything."""

    path: str
    label: str
    probabilities: dict[str, float]
    seconds: float | None = None
    note: str | None = None

    @property
    def score(self) -> float:
        return self.probabilities[self.label]

    def as_json(self) -> dict:
        """The ``predict --json`` contract: path, label, probabilities (and a note when one applies)."""
        out = {"path": self.path, "label": self.label, "probabilities": self.probabilities}
        if self.note:
            out["note"] = self.note
        return out


def expand_paths(paths: list[str | Path]) -> Iterator[Path]:
    """Files as given (whatever their suffix: a bad one gets its own error) and audio files inside folders."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            yield path


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(batch, classes)`` logits, computed stably."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
