"""The one contract every door predicts through, and the one place a runtime is chosen.

A scorer knows its ``labels``, ``sample_rate``, ``num_samples``, ``align``, ``model_id`` and model
``card``, and maps a batch of fitted waveforms ``(batch, num_samples)`` float32 to class probabilities
``(batch, classes)``. Two runtimes give one: :class:`TorchScorer` (a run folder's network on eager
torch) and :class:`~sonogram.inference.onnx.OnnxScorer` (an exported ``.onnx`` on onnxruntime).
:func:`open_model` picks between them by path; :class:`~sonogram.inference.predictor.Predictor` wraps
either with fitting, checks, batching, files and sliding windows. Importing this module, and opening
an ``.onnx``, never imports torch.

Example:
    >>> from sonogram.network.design import DesignConfig, build_network
    >>> net = build_network(DesignConfig(sample_rate=8000, num_samples=800, num_classes=2,
    ...                                  frontend=[{"name": "waveform"}], model={"name": "mlp", "hidden": [4]}))
    >>> scorer = TorchScorer.from_network(net, ["no", "yes"])
    >>> scorer.probabilities(np.zeros((3, 800), np.float32)).shape, scorer.runtime
    ((3, 2), 'torch')
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sonogram.errors import ConfigError, RunError

BACKENDS = ("torch", "onnx")


@dataclass
class Scorer:
    """What a model says of its input (``labels`` in index order, ``sample_rate``, ``num_samples``, ``align``),
    its ``model_id`` and ``card``; a runtime adds :meth:`probabilities` and :meth:`weights_finite`."""

    runtime: ClassVar[str]
    labels: list[str]
    sample_rate: int
    num_samples: int
    align: str
    model_id: str
    card: dict

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` float32 waveforms at ``sample_rate`` -> ``(batch, classes)``."""
        raise NotImplementedError

    def weights_finite(self) -> bool:
        """Whether the model itself is sound (``False``: non-finite scores are its fault, not a clip's)."""
        raise NotImplementedError


@dataclass
class TorchScorer(Scorer):
    """A :class:`~sonogram.network.design.Network` on eager torch (on the device its weights are on)."""

    runtime: ClassVar[str] = "torch"
    network: object = None  # sonogram.network.design.Network
    model: object = None  # what runs after the front-end: the network's model, or a frozen copy (frozen())
    start: int = 0  # clips are the outputs of this many leading front-end layers (the embedding cache), not waveforms

    def __post_init__(self) -> None:
        if len(self.labels) != self.network.design.num_classes:
            raise RunError(f"{len(self.labels)} labels for a network with {self.network.design.num_classes} outputs")
        self.network = self.network.eval()
        if self.model is None:
            self.model = self.network.model

    @classmethod
    def from_network(cls, network, labels: list[str], model_id: str = "network", card: dict | None = None,
                     start: int = 0) -> TorchScorer:
        design = network.design
        return cls(list(labels), design.sample_rate, design.num_samples, design.align, model_id, card or {}, network,
                   start=start)

    @classmethod
    def from_run(cls, path: str | Path, device: str = "cpu", threads: int = 0) -> TorchScorer:
        """A run folder's best network (its card from the run), or a bare ``model.pt``; ``threads`` > 0 sets
        torch's (process-wide) intra-op thread count."""
        import torch

        from sonogram.network.checkpoint import load_checkpoint
        from sonogram.network.model_card import card_from_run, read_run

        if threads > 0:
            torch.set_num_threads(threads)
        path = Path(path)
        if path.is_file():
            network, checkpoint = load_checkpoint(path, device)
            return cls.from_network(network, checkpoint["labels"], path.stem)
        run = read_run(path)
        card = card_from_run(run)
        return cls.from_network(run.network.to(device), card["labels"], card["model_id"], card)

    @property
    def device(self):
        return next(self.network.parameters()).device

    def frozen(self) -> TorchScorer:
        """The same scorer with its model traced, frozen and optimised for inference, where that keeps its
        answers (about 4x faster for a small CNN on one window; see :func:`frozen_for_inference`)."""
        import torch

        with torch.inference_mode():
            example = self.network.features(torch.zeros(1, self.num_samples, device=self.device))
            return dataclasses.replace(self, model=frozen_for_inference(self.network.model, example))

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(clips, np.float32)).to(self.device)
            features = self.network.features_from(batch, self.start) if self.start else self.network.features(batch)
            return self.model(features).softmax(-1).cpu().numpy()

    def weights_finite(self) -> bool:
        import torch

        return all(torch.isfinite(p).all() for p in self.network.state_dict().values() if p.is_floating_point())


def frozen_for_inference(model, example):
    """``model`` traced, frozen and optimised for inference (batch norm folded into convolutions, oneDNN
    layouts), or the model itself where tracing fails or changes its answers (beyond 1e-4) at another
    batch size."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = torch.jit.optimize_for_inference(torch.jit.trace(copy.deepcopy(model).eval(), example))
            probe = torch.cat([example, example.flip(-1) + 1.0, example * 0.5])
            if torch.allclose(fast(probe), model(probe), rtol=1e-4, atol=1e-4):
                return fast
    except Exception:  # noqa: BLE001 - models that cannot be traced run eagerly
        pass
    return model


def is_onnx(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def open_model(path: str | Path, backend: str | None = None, threads: int = 0, device: str = "cpu") -> Scorer:
    """``MODEL.onnx`` on onnxruntime, or a run folder (or ``model.pt``) on torch; ``backend`` (``"torch"`` or
    ``"onnx"``) overrides what the path implies. ``threads`` is the runtime's intra-op thread count (0 keeps
    its default); ``device`` is torch's (onnxruntime runs on the CPU)."""
    backend = backend or ("onnx" if is_onnx(path) else "torch")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "onnx":
        if not is_onnx(path):
            raise ConfigError(f"--backend onnx needs a MODEL.onnx (export one with sonogram export), got {path}")
        from sonogram.inference.onnx import OnnxScorer

        return OnnxScorer.load(path, threads)
    if is_onnx(path):
        raise ConfigError(f"{path} is an ONNX model: it runs on the onnx backend, not torch")
    return TorchScorer.from_run(path, device, threads)
