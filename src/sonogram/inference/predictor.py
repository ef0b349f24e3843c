"""Predict with any scorer (a run on torch, an ``.onnx`` on onnxruntime): waveforms or audio files at any
sample rate, batched, each fitted to the model's input with a note when that matters, and checked for
non-finite scores. Every door (CLI, API, studio, server, reports, evaluation) predicts through it.

Needs only numpy, soundfile and soxr here; torch only for a torch scorer, never the training framework.

Example:
    >>> import numpy as np
    >>> from sonogram.network.design import DesignConfig, build_network
    >>> net = build_network(DesignConfig(sample_rate=8000, num_samples=800, num_classes=2,
    ...                                  frontend=[{"name": "waveform"}], model={"name": "mlp", "hidden": [4]}))
    >>> predictor = Predictor.from_network(net, ["no", "yes"])
    >>> [p.label in ("no", "yes") for p in predictor.predict([np.zeros(1600), np.zeros(400)], sample_rate=16000)]
    [True, True]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import soxr

from sonogram.audio import fix_length, load
from sonogram.errors import AudioError, ConfigError, RunError
from sonogram.inference.prediction import Prediction, expand_paths
from sonogram.inference.scorers import Scorer, TorchScorer, open_model

MIN_FILL = 0.1  # a clip under this fraction of the network's input is mostly padding
SILENCE = 1e-4  # peak-to-peak range under -80 dBFS: no signal


def overflow(clip: np.ndarray) -> str:
    """Why a clip got non-finite scores from a sound model."""
    return (f"the network's scores overflow on this clip (samples up to {float(np.abs(clip).max()):.3g}, "
            f"audio lies in [-1, 1]); is the file damaged?")


class Predictor:
    """A scorer with its input contract (rate, length, alignment) applied to whatever audio it is given."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer

    @classmethod
    def open(cls, path: str | Path, backend: str | None = None, device: str = "cpu", threads: int = 0) -> Predictor:
        """A run folder (or ``model.pt``) on torch, or ``MODEL.onnx`` on onnxruntime (see :func:`open_model`)."""
        return cls(open_model(path, backend, threads, device))

    @classmethod
    def from_network(cls, network, labels: list[str]) -> Predictor:
        """A :class:`~sonogram.network.design.Network` in memory, on torch."""
        return cls(TorchScorer.from_network(network, labels))

    @property
    def labels(self) -> list[str]:
        return self.scorer.labels

    @property
    def sample_rate(self) -> int:
        return self.scorer.sample_rate

    @property
    def num_samples(self) -> int:
        return self.scorer.num_samples

    @property
    def align(self) -> str:
        return self.scorer.align

    def fit(self, waveform: np.ndarray) -> tuple[np.ndarray, str | None]:
        """Pad or cut a mono clip at the network's rate to its input length, as in training.

        The note says what was done when it matters: a clip cut short, or one too short or too quiet
        for its prediction to mean much (it is still given, never silently confident).
        """
        waveform = np.asarray(waveform, dtype=np.float32)
        n, length = len(waveform), self.num_samples
        notes = []
        if n > length:
            notes.append(f"{n / self.sample_rate:.2f} s clip cut to the model's {length / self.sample_rate:.2f} s "
                         f"input ({self.align})")
        elif n < length * MIN_FILL:
            notes.append(f"only {n} sample{'s' * (n != 1)} ({1000 * n / self.sample_rate:.1f} ms) for the model's "
                         f"{length / self.sample_rate:.2f} s input: mostly padding, the prediction says little")
        if n and float(waveform.max() - waveform.min()) < SILENCE:
            notes.append("silent or constant clip (no signal above -80 dBFS): the prediction says nothing "
                         "about its content")
        clip = waveform if n == length else fix_length(waveform, length, self.align)
        return clip, "; ".join(notes) or None

    def scores(self, clips: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """``(clips, num_samples)`` fitted waveforms (an array or a memory map) -> ``(clips, classes)``, unchecked,
        ``batch_size`` clips at a time."""
        out = [self.scorer.probabilities(np.asarray(clips[start:start + batch_size], dtype=np.float32))
               for start in range(0, len(clips), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def non_finite(self, probabilities: np.ndarray) -> np.ndarray:
        """Rows of non-finite scores; a :class:`RunError` when the model itself is to blame (training diverged)."""
        bad = ~np.isfinite(probabilities).all(axis=1)
        if bad.any() and not self.scorer.weights_finite():
            raise RunError("the model gives non-finite scores (its weights hold NaN or inf; did training diverge?)")
        return bad

    def probabilities(self, clips: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """``(clips, num_samples)`` waveforms at the model's rate -> ``(clips, classes)`` probabilities.

        A clip the model cannot score (samples so large its features overflow) is an :class:`AudioError`.
        """
        probabilities = self.scores(clips, batch_size)
        bad = np.flatnonzero(self.non_finite(probabilities))
        if len(bad):
            raise AudioError(f"clip {bad[0]}: {overflow(clips[bad[0]])}")
        return probabilities

    def answer(self, probabilities: np.ndarray, path: str, seconds: float, note: str | None) -> Prediction:
        """One clip's :class:`Prediction` from its probabilities ``(classes,)``."""
        best = int(probabilities.argmax())
        return Prediction(path, self.labels[best], {label: round(float(p), 6) for label, p in
                                                    zip(self.labels, probabilities)}, round(seconds, 4), note)

    def predict(self, waveforms: np.ndarray | Sequence[np.ndarray], sample_rate: int | None = None,
                batch_size: int = 64) -> list[Prediction]:
        """Predict mono waveforms of any length and rate: ``(batch, time)`` or a list of 1-D arrays.

        They are resampled to the network's rate (soxr) and padded or cut to its input length.
        """
        rate = self.sample_rate if sample_rate is None else sample_rate
        if rate < 1:
            raise ConfigError(f"sample_rate must be positive, got {rate}")
        clips, notes, seconds = [], [], []
        for i, waveform in enumerate(waveforms):
            waveform = np.asarray(waveform, dtype=np.float32)
            if waveform.ndim != 1 or waveform.size == 0:
                raise AudioError(f"waveform {i}: expected a non-empty 1-D array, got shape {waveform.shape}")
            if not np.isfinite(waveform).all():
                raise AudioError(f"waveform {i}: holds NaN or inf samples")
            seconds.append(len(waveform) / rate)
            if rate != self.sample_rate:
                waveform = soxr.resample(waveform, rate, self.sample_rate, quality="HQ").astype(np.float32)
            clip, note = self.fit(waveform)
            clips.append(clip)
            notes.append(note)
        if not clips:
            return []
        probabilities = self.probabilities(np.stack(clips), batch_size)
        return [self.answer(p, "", s, n) for p, s, n in zip(probabilities, seconds, notes)]

    def predict_files(self, paths: Sequence[str | Path], batch_size: int = 64,
                      max_seconds: float = 600.0) -> Iterator[Prediction | AudioError]:
        """One :class:`Prediction` per readable file (in order), or the :class:`AudioError` naming an unreadable one.

        Files are decoded and resampled one by one, and run through the network ``batch_size`` at a time.
        """
        pending: list[tuple[str, np.ndarray, float, str | None]] = []

        def flush() -> Iterator[Prediction | AudioError]:
            probabilities = self.scores(np.stack([clip for _, clip, _, _ in pending]), batch_size)
            for (path, clip, seconds, note), p, bad in zip(pending, probabilities, self.non_finite(probabilities)):
                yield AudioError(f"{path}: {overflow(clip)}") if bad else self.answer(p, path, seconds, note)
            pending.clear()

        for path in expand_paths(paths):
            shown = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
            try:
                waveform, _ = load(path, self.sample_rate, max_seconds=max_seconds)
            except AudioError as exc:
                if pending:
                    yield from flush()
                yield exc
                continue
            clip, note = self.fit(waveform)
            pending.append((shown, clip, len(waveform) / self.sample_rate, note))
            if len(pending) == batch_size:
                yield from flush()
        if pending:
            yield from flush()

    def frame_probabilities(self, waveform: np.ndarray, hop_seconds: float = 0.05,
                            batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities of a window the network's length slid along a clip of any length.

        The clip (at the network's rate) is zero-padded by half a window at both ends, so window
        centres span it. Returns centre times ``(positions,)`` in seconds and ``(positions, classes)``.
        Works for every model, since each window is an ordinary network input.
        """
        if not (math.isfinite(hop_seconds) and hop_seconds > 0):
            raise ConfigError(f"hop must be a positive number of seconds, got {hop_seconds}")
        rate, length = self.sample_rate, self.num_samples
        hop = max(1, int(round(hop_seconds * rate)))
        if hop < rate // 1000:
            raise ConfigError(f"hop {hop_seconds} s is under a millisecond; use at least 0.001")
        half = length // 2
        padded = np.pad(np.asarray(waveform, dtype=np.float32), (half, length - half))
        starts = np.arange(0, max(1, len(waveform)), hop)
        windows = np.lib.stride_tricks.sliding_window_view(padded, length)[starts]  # (positions, num_samples)
        return starts / rate, self.probabilities(windows, batch_size)
