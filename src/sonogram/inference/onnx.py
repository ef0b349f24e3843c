"""Predict with an exported ``model.onnx`` on onnxruntime, numpy, soundfile and soxr alone: no torch.

The model's metadata (written by ``sonogram export``) says its labels, sample rate, input length and
alignment, so a file is decoded, resampled and padded exactly as in training.

Example:
    >>> model = OnnxModel.load("model.onnx")  # doctest: +SKIP
    >>> model.probabilities(np.zeros((4, model.num_samples), np.float32)).shape  # doctest: +SKIP
    (4, 10)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sonogram.audio import AudioError, fix_length, load
from sonogram.errors import ConfigError
from sonogram.inference.prediction import Prediction, expand_paths, from_probabilities, softmax

_REQUIRED = ("labels", "sample_rate", "num_samples", "align")


@dataclass
class OnnxModel:
    """An onnxruntime session with the metadata that tells how to feed it."""

    runtime: ClassVar[str] = "onnxruntime"
    session: object  # onnxruntime.InferenceSession
    labels: list[str]
    sample_rate: int
    num_samples: int
    align: str
    model_id: str
    card: dict

    @classmethod
    def load(cls, path: str | Path, threads: int = 0) -> OnnxModel:
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
        return cls(session, json.loads(meta["labels"]), int(meta["sample_rate"]), int(meta["num_samples"]),
                   meta["align"], meta.get("model_id", path.stem), card)

    def logits(self, waveforms: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` float32 -> ``(batch, classes)``."""
        feed = {self.session.get_inputs()[0].name: np.ascontiguousarray(waveforms, np.float32)}
        return self.session.run(None, feed)[0]

    def probabilities(self, waveforms: np.ndarray) -> np.ndarray:
        """``(batch, num_samples)`` -> class probabilities ``(batch, classes)``."""
        return softmax(self.logits(waveforms))

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        """One mono clip at the model's rate, padded or cut to its length as in training: ``(num_samples,)``."""
        return fix_length(np.asarray(waveform, dtype=np.float32), self.num_samples, self.align)


def predict_files(model: OnnxModel, paths: list[str | Path], max_seconds: float = 600.0,
                  batch_size: int = 64) -> Iterator[Prediction | AudioError]:
    """One :class:`Prediction` per readable file (in order), or the :class:`AudioError` naming the unreadable one."""
    pending: list[tuple[str, np.ndarray | AudioError]] = []

    def flush() -> Iterator[Prediction | AudioError]:
        clips = [clip for _, clip in pending if not isinstance(clip, AudioError)]
        probabilities = iter(model.probabilities(np.stack(clips)) if clips else [])
        for path, clip in pending:
            yield clip if isinstance(clip, AudioError) else from_probabilities(path, model.labels, next(probabilities))
        pending.clear()

    for path in expand_paths(paths):
        try:
            waveform, _ = load(path, model.sample_rate, max_seconds=max_seconds)
            pending.append((str(path), model.prepare(waveform)))
        except AudioError as exc:
            pending.append((str(path), exc))
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()
