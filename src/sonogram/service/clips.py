"""Single clips for a door: the clips of a dataset by class, what a front-end chain or a trained run makes
of one clip, and a 2-D projection of many clips' front-end features (PCA) to explore a dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from sonogram.audio import fix_length, load
from sonogram.config import from_dict
from sonogram.data import load_dataset, resolve_data_root
from sonogram.errors import DatasetError
from sonogram.inference.detection import Detection, detect_along
from sonogram.inference.predictor import Prediction, Predictor
from sonogram.inference.scorers import TorchScorer
from sonogram.network.design import DesignConfig
from sonogram.network.frontend import build_frontend

MAX_SECONDS = 60.0  # a clip a door decodes: longer uploads are refused with one message


@dataclass
class ClipView:
    """A clip at a network's rate ``(time,)`` and the features the front-end makes of it ``(C, F, T)``."""

    waveform: np.ndarray
    sample_rate: int
    features: np.ndarray


@dataclass
class TryResult:
    """A model's answer for one file: the prediction, the file ``waveform (time,)`` at the model's rate,
    the ``features (C, F, T)`` the network saw (``None`` for an ``.onnx``), per-window probabilities ``times (positions,)``,
    ``frames (positions, classes)`` along the file, and the keywords detected along it."""

    prediction: Prediction
    labels: list[str]
    waveform: np.ndarray
    sample_rate: int
    features: np.ndarray | None
    times: np.ndarray
    frames: np.ndarray
    detections: list[Detection]


@dataclass
class Projection:
    """``points (clips, 2)`` with each clip's label and path; ``explained`` is each axis's variance share."""

    points: np.ndarray
    labels: list[str]
    paths: list[str]
    explained: tuple[float, float]


def class_clips(name: str, options: dict | None = None, data_root: str | os.PathLike | None = None,
                label: str | None = None, limit: int = 50) -> list[dict]:
    """Up to ``limit`` clips of a dataset (of one class when ``label`` is given): path, label, speaker."""
    corpus = load_dataset(name, resolve_data_root(data_root), **(options or {}))
    if label is not None and label not in corpus.classes:
        raise DatasetError(f"{corpus.name} has no class {label!r}; classes: {', '.join(corpus.classes)}")
    rows = [{"path": c.path, "label": c.label, "speaker": c.speaker} for c in corpus.clips
            if label is None or c.label == label]
    return rows[:limit]


@torch.no_grad()
def design_features(design: dict | DesignConfig, waveforms: np.ndarray) -> np.ndarray:
    """``(clips, num_samples)`` waveforms through a design's front-end (in evaluation mode) -> ``(clips, C, F, T)``."""
    config = design if isinstance(design, DesignConfig) else from_dict(DesignConfig, design, "design")
    frontend, _ = build_frontend(config)
    return frontend.eval()(torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32))).numpy()


def view_clip(path: str | os.PathLike, design: dict | DesignConfig) -> ClipView:
    """A file at a design's rate, fitted to its clip length, and its features through the design's front-end."""
    config = design if isinstance(design, DesignConfig) else from_dict(DesignConfig, design, "design")
    waveform, rate = load(path, config.sample_rate, max_seconds=MAX_SECONDS)
    clip = fix_length(waveform, config.num_samples, config.align)
    return ClipView(clip, rate, design_features(config, clip[None])[0])


@torch.no_grad()
def try_file(run: str | os.PathLike | Predictor, path: str | os.PathLike, hop_seconds: float = 0.05) -> TryResult:
    """A model's prediction for a file, the features its network saw (a run's; ``None`` for an ``.onnx``,
    whose front-end is inside its graph) and its per-window answers along the file."""
    predictor = run if isinstance(run, Predictor) else Predictor.open(run)
    waveform, rate = load(path, predictor.sample_rate, max_seconds=MAX_SECONDS)
    prediction = predictor.predict([waveform], rate)[0]
    clip, _ = predictor.fit(waveform)
    features = None
    if isinstance(predictor.scorer, TorchScorer):
        network = predictor.scorer.network
        features = network.features(torch.from_numpy(clip[None]).to(predictor.scorer.device))[0].cpu().numpy()
    times, frames = predictor.frame_probabilities(waveform, hop_seconds)
    detections = detect_along(predictor.labels, times, frames, predictor.num_samples / predictor.sample_rate)
    return TryResult(prediction, predictor.labels, waveform, rate, features, times, frames, detections)


def project(name: str, design: dict | DesignConfig, options: dict | None = None,
            data_root: str | os.PathLike | None = None, per_class: int = 20, seed: int = 0) -> Projection:
    """PCA of the flattened front-end features of up to ``per_class`` clips of each class of a dataset."""
    config = design if isinstance(design, DesignConfig) else from_dict(DesignConfig, design, "design")
    corpus = load_dataset(name, resolve_data_root(data_root), **(options or {}))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in corpus.classes:
        index = np.flatnonzero(np.array([c.label == label for c in corpus.clips]))
        chosen.extend(rng.permutation(index)[:per_class].tolist())
    if len(chosen) < 3:
        raise DatasetError(f"{corpus.name}: {len(chosen)} clips is too few to project; need at least 3")
    clips = [corpus.clips[i] for i in chosen]
    waves = np.stack([fix_length(load(c.path, config.sample_rate, start=c.start, duration=c.duration)[0],
                                 config.num_samples, config.align) for c in clips])
    flat = design_features(config, waves).reshape(len(clips), -1).astype(np.float64)  # (clips, C*F*T)
    centred = flat - flat.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    share = variance[:2] / max(variance.sum(), 1e-12)
    points = centred @ vt[:2].T  # (clips, 2)
    return Projection(points.astype(np.float32), [c.label for c in clips], [c.path for c in clips],
                      (float(share[0]), float(share[1]) if len(share) > 1 else 0.0))
