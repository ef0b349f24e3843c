"""The scorer of an exported ``model.onnx``: onnxruntime and numpy alone, no torch.

The model's metadata (written by ``sonogram export``) says its labels, sample rate, input length and
alignment, so :class:`~sonogram.inference.predictor.Predictor` decodes, resamples and pads a file
exactly as in training.

Example:
    >>> model = OnnxScorer.load("model.onnx")  # doctest: +SKIP
    >>> model.probabilities(np.zeros((4, model.num_samples), np.float32)).shape  # doctest: +SKIP
    (4, 10)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sonogram.errors import ConfigError
from sonogram.inference.prediction import softmax
from sonogram.inference.scorers import Scorer

_REQUIRED = ("labels", "sample_rate", "num_samples", "align")


@dataclass
class OnnxScorer(Scorer):
    """An onnxruntime session with the metadata that tells how to feed it."""

    runtime: ClassVar[str] = "onnxruntime"
    session: object = None  # onnxruntime.InferenceSession

    @classmethod
    def load(cls, path: str | Path, threads: int = 0) -> OnnxScorer:
        """Open ``path`` on the CPU provider; ``threads`` 0 lets onnxruntime choose.

        Idle worker threads sleep instead of spinning, so a server's decoding and HTTP threads keep
        the cores between batches.
        """
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such model file")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise ConfigError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
        meta = session.get_modelmeta().custom_metadata_map
        missing = [key for key in _REQUIRED if key not in meta]
        if missing:
            raise ConfigError(f"{path}: ONNX model without sonogram metadata ({', '.join(missing)} missing); "
                              f"export it with sonogram export")
        card = json.loads(meta.get("model_card", "{}"))
        return cls(json.loads(meta["labels"]), int(meta["sample_rate"]), int(meta["num_samples"]), meta["align"],
                   meta.get("model_id", path.stem), card, session)

    def logits(self, waveforms: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` float32 -> ``(batch, classes)``."""
        feed = {self.session.get_inputs()[0].name: np.ascontiguousarray(waveforms, np.float32)}
        return self.session.run(None, feed)[0]

    def probabilities(self, waveforms: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` -> class probabilities ``(batch, classes)``."""
        return softmax(self.logits(waveforms))

    def weights_finite(self) -> bool:
        """An exported graph's weights are not at hand here: silence scoring non-finite stands for them."""
        return bool(np.isfinite(self.logits(np.zeros((1, self.num_samples), np.float32))).all())
