"""The public Python API in a few functions; ``import sonogram`` exposes them (and the layers, designs
and errors) lazily, so importing the package loads nothing heavy.

Example:
    >>> import numpy as np, sonogram
    >>> layer = sonogram.LogMelSpectrogram(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40)
    >>> layer(sonogram.torch_tensor(np.zeros((2, 8000)))).shape
    torch.Size([2, 1, 40, 101])
"""

from __future__ import annotations

import os
import threading

from sonogram.inference.predictor import Predictor
from sonogram.recipe import Recipe
from sonogram.service.training import CVResult, ProgressFn, TrainResult, cross_validate, resolve_recipe
from sonogram.service.training import train as _train


def load(model: str | os.PathLike, device: str = "cpu") -> Predictor:
    """A finished run (its folder, or a ``model.pt``) on torch, or an exported ``MODEL.onnx`` on onnxruntime,
    ready to predict waveforms or files.

    ``sonogram.load("runs/fsdd").predict(waveforms, sample_rate=44100)`` resamples and fits each clip
    to the model's input and returns one :class:`~sonogram.inference.predictor.Prediction` per clip.
    """
    return Predictor.open(model, device=device)


def train(recipe: str | os.PathLike | Recipe, out: str | os.PathLike | None = None, overrides: list[str] = (),
          progress: ProgressFn | None = None, stop: threading.Event | None = None,
          report: bool = True) -> TrainResult:
    """Train a recipe (a YAML path, a bundled name such as ``"fsdd_fast"``, or a :class:`Recipe`) quietly.

    ``progress`` receives one dict per finished epoch (see :mod:`sonogram.service.training`); nothing is
    printed. Returns the run folder, its metrics and its report.
    """
    return _train(resolve_recipe(recipe, overrides), out, progress, stop, command="sonogram.train()", report=report)


def cv(recipe: str | os.PathLike | Recipe, out: str | os.PathLike | None = None, overrides: list[str] = (),
       progress: ProgressFn | None = None) -> CVResult:
    """Cross-validate a recipe over every fold of its split, quietly (see :func:`train`)."""
    return cross_validate(resolve_recipe(recipe, overrides), out, progress, command="sonogram.cv()")


def torch_tensor(array):
    """A float32 torch tensor from a numpy array or nested lists (a convenience for layers and networks)."""
    import torch

    return torch.as_tensor(array, dtype=torch.float32)
