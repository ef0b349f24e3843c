"""Keyword spotting on a stream, for every door: audio from a source, resampled as it arrives, scored
window by window, turned into detections.

Example:
    >>> stream, detector = open_stream("runs/kws")  # doctest: +SKIP
    >>> summary = listen(stream, detector, FileSource("long.wav"), on_detection=print)  # doctest: +SKIP
    Detection(start=2.1, end=3.1, label='yes', score=0.93)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sonogram.inference.detection import BACKGROUND, Detection, Detector, DetectorConfig
from sonogram.inference.streaming import StreamingClassifier


@dataclass
class ListenSummary:
    """What a finished (or interrupted) stream amounted to."""

    source: str
    seconds: float  # audio heard
    detections: int
    engine: str
    hop_seconds: float
    window_seconds: float
    windows: int
    real_time_factor: float  # compute time over audio time
    note: str | None = None  # what limits the result (e.g. a model without background classes)

    def as_json(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def open_stream(model: str | os.PathLike, hop_seconds: float = 0.1, engine: str = "auto",
                detector: DetectorConfig | None = None, threads: int = 1) -> tuple[StreamingClassifier, Detector]:
    """The streaming classifier of a run folder or ``MODEL.onnx``, and a detector for its classes.

    ``threads`` is the runtime's intra-op thread count (torch's is process-wide). One is the default:
    a hop's tensors are too small to share, and on a busy machine a second thread mostly waits for a
    core (here 4-5x slower with two threads than with one while other jobs ran).
    """
    stream = StreamingClassifier.open(model, hop_seconds, engine, threads)
    config = detector or DetectorConfig()
    return stream, Detector(stream.labels, config, stream.hop_seconds, stream.window_seconds)


def background_note(labels: list[str]) -> str | None:
    """Why detections from a model without background classes mean little, or ``None``."""
    if any(label in BACKGROUND for label in labels):
        return None
    return ("the model has no _silence_ or _unknown_ class, so it names one of its words at every position, "
            "silence included; train a recipe with them (e.g. fsdd_kws or speech_commands_test)")


def listen(stream: StreamingClassifier, detector: Detector, source,
           on_detection: Callable[[Detection], None] = lambda d: None,
           on_window: Callable[[float, np.ndarray], None] | None = None) -> ListenSummary:
    """Stream ``source`` (see :mod:`sonogram.inference.sources`) through an :func:`open_stream` pair to its
    end, or until Ctrl-C (the summary is still returned); call ``on_detection`` as each keyword is
    detected and ``on_window(time, probabilities)`` for each window's posteriors."""
    import soxr

    resampler = None if source.sample_rate == stream.sample_rate else \
        soxr.ResampleStream(source.sample_rate, stream.sample_rate, 1, dtype="float32", quality="HQ")
    count = heard = 0

    def feed(samples: np.ndarray, last: bool = False) -> None:
        nonlocal count, heard
        if resampler is not None:
            samples = resampler.resample_chunk(samples, last=last)
        heard += len(samples)
        times, probabilities = stream.push(samples)
        if last:
            more_times, more = stream.finish()
            times, probabilities = np.concatenate([times, more_times]), np.vstack([probabilities, more])
        if on_window is not None:
            for t, p in zip(times, probabilities):
                on_window(float(t), p)
        for detection in detector.update(times, probabilities):
            count += 1
            on_detection(detection)

    try:
        for chunk in source.chunks():
            feed(chunk)
        feed(np.zeros(0, np.float32), last=True)
    except KeyboardInterrupt:
        pass
    return ListenSummary(source.name, heard / stream.sample_rate, count, stream.engine, stream.hop_seconds,
                         stream.window_seconds, stream.windows_scored, stream.real_time_factor,
                         background_note(stream.labels) or stream.note)
