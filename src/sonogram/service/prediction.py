"""Predictions for a door: files through a run (batched), and per-frame probabilities along a long file
for one or several runs, with the waveform they were computed on."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonogram.audio import load
from sonogram.errors import AudioError, ConfigError
from sonogram.inference.detection import Detection, detect_along
from sonogram.inference.prediction import Prediction


def predict_files(model: str | os.PathLike, paths: Sequence[str | os.PathLike], backend: str | None = None,
                  batch_size: int = 64) -> Iterator[Prediction | AudioError]:
    """One :class:`Prediction` per readable file, or the :class:`AudioError` naming an unreadable one.

    ``model`` is a run folder (eager torch) or an exported ``MODEL.onnx`` (onnxruntime, without torch);
    ``backend`` (``"torch"`` or ``"onnx"``) overrides the choice the path implies.
    """
    from sonogram.inference.predictor import Predictor

    yield from Predictor.open(model, backend).predict_files(paths, batch_size)


@dataclass
class FramePanel:
    """One run's per-frame answer along a file: window centre times ``(positions,)`` in seconds,
    probabilities ``(positions, classes)`` and the keywords detected (for models with background classes)."""

    name: str
    labels: list[str]
    times: np.ndarray
    probabilities: np.ndarray
    detections: list[Detection]

    def plotted(self) -> tuple:
        """The panel as :func:`sonogram.reports.plots.plot_frames` takes it."""
        return self.name, self.times, self.probabilities, self.labels, self.detections


@dataclass
class FrameComparison:
    waveform: np.ndarray
    sample_rate: int
    panels: list[FramePanel]


def frame_probabilities(runs: Sequence[str | os.PathLike], file: str | os.PathLike,
                        hop_seconds: float = 0.05) -> FrameComparison:
    """Slide each model's window along ``file`` (runs or ``.onnx`` models, all at the same sample rate)."""
    from sonogram.inference.predictor import Predictor

    if not runs:
        raise ConfigError("give at least one run before the audio file")
    predictors = [Predictor.open(r) for r in runs]
    rate = predictors[0].sample_rate
    for run, predictor in zip(runs, predictors):
        if predictor.sample_rate != rate:
            raise ConfigError(f"{run} works at {predictor.sample_rate} Hz but {runs[0]} at {rate} Hz; "
                              "compare runs with the same rate")
    waveform, _ = load(file, rate)
    panels = []
    for run, predictor in zip(runs, predictors):
        times, probabilities = predictor.frame_probabilities(waveform, hop_seconds)
        detections = detect_along(predictor.labels, times, probabilities, predictor.num_samples / rate)
        panels.append(FramePanel(Path(run).name, predictor.labels, times, probabilities, detections))
    return FrameComparison(waveform, rate, panels)
