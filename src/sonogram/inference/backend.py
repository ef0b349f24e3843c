"""One interface over the two runtimes: a run folder on eager torch, or an exported ``.onnx`` on onnxruntime.

Both give ``runtime``, ``labels``, ``sample_rate``, ``num_samples``, ``align``, ``model_id``, ``card``,
``prepare(waveform)`` and ``probabilities(waveforms (batch, num_samples)) -> (batch, classes)``,
which is all a server or a batch predictor needs. Opening an ``.onnx`` never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sonogram.audio import AudioError, fix_length
from sonogram.errors import ConfigError
from sonogram.inference.onnx import OnnxModel, predict_files
from sonogram.inference.prediction import Prediction

BACKENDS = ("torch", "onnx")


@dataclass
class TorchModel:
    """A run's best network on eager torch, behind the same interface as :class:`OnnxModel`."""

    runtime: ClassVar[str] = "torch"
    network: object  # sonogram.network.design.Network
    labels: list[str]
    sample_rate: int
    num_samples: int
    align: str
    model_id: str
    card: dict

    @classmethod
    def load(cls, run_dir: str | Path, threads: int = 0) -> TorchModel:
        """Open a run folder; ``threads`` > 0 sets torch's (process-wide) intra-op thread count."""
        import torch

        from sonogram.network.model_card import card_from_run, read_run

        if threads > 0:
            torch.set_num_threads(threads)
        run = read_run(run_dir)
        card = card_from_run(run)
        return cls(run.network, card["labels"], card["sample_rate"], card["num_samples"], card["align"],
                   card["model_id"], card)

    def probabilities(self, waveforms: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` -> class probabilities ``(batch, classes)``."""
        import torch

        with torch.no_grad():
            logits = self.network(torch.from_numpy(np.ascontiguousarray(waveforms, np.float32)))
        return logits.softmax(-1).numpy()

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        """One mono clip at the model's rate, padded or cut to its length as in training: ``(num_samples,)``."""
        return fix_length(np.asarray(waveform, dtype=np.float32), self.num_samples, self.align)


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def open_model(path: str | Path, backend: str | None = None, threads: int = 0) -> OnnxModel | TorchModel:
    """``MODEL.onnx`` on onnxruntime, or a run folder on torch (``backend`` chooses; ``None`` goes by the path).

    ``threads`` is the runtime's intra-op thread count; 0 keeps its default.
    """
    backend = backend or ("onnx" if is_onnx(path) else "torch")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "onnx":
        if not is_onnx(path):
            raise ConfigError(f"--backend onnx needs a MODEL.onnx (export one with sonogram export), got {path}")
        return OnnxModel.load(path, threads)
    if is_onnx(path):
        raise ConfigError(f"{path} is an ONNX model: it runs on the onnx backend, not torch")
    return TorchModel.load(path, threads)


def onnx_predictions(path: str | Path, paths: list[str | Path]) -> Iterator[Prediction | AudioError]:
    """``sonogram predict MODEL.onnx PATH...``: one prediction or error per file, on onnxruntime."""
    model = open_model(path, "onnx")
    return predict_files(model, paths)
