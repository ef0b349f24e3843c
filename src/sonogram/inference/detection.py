"""From a stream of window posteriors to keyword detections: smoothing, a threshold and a refractory time.

A streaming classifier scores the window of audio that ends at each hop. A :class:`Detector` averages
the last ``smooth`` seconds of those posteriors, and reports a keyword when its smoothed score reaches
the threshold (one for all classes, or one per class), then stays quiet for ``refractory`` seconds,
so one spoken word gives one detection. The background classes (``_silence_``, ``_unknown_``) are
never reported. Torch-free: the benchmark sweeps thresholds over stored posteriors with it.

Example:
    >>> detector = Detector(["_silence_", "yes"], DetectorConfig(threshold=0.5, smooth=0.2, refractory=1.0),
    ...                     hop_seconds=0.1, window_seconds=1.0)
    >>> p = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5 + [[1.0, 0.0]] * 5)
    >>> [(d.label, d.end) for d in detector.update(0.1 * np.arange(1, 16), p)]
    [('yes', 0.6)]
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from sonogram.errors import ConfigError

BACKGROUND = ("_silence_", "_unknown_")


@dataclass(frozen=True)
class Detection:
    """A keyword heard in the window of audio ``[start, end]`` (seconds from the stream's start).

    ``end`` is also when the detection was made: the stream had been read up to there.
    """

    start: float
    end: float
    label: str
    score: float

    def as_json(self) -> dict:
        """The ``listen`` contract: ``{"start": s, "end": s, "label": ..., "score": p}``."""
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "score": round(self.score, 4)}


@dataclass
class DetectorConfig:
    """How posteriors become detections.

    Attributes:
        threshold: smoothed score a keyword must reach, in (0, 1].
        thresholds: per-class thresholds that replace ``threshold`` for those classes.
        smooth: seconds of posteriors averaged (a moving mean; at least one hop).
        refractory: seconds after a detection during which nothing else is reported.
        ignore: classes never reported (the background classes a keyword model is trained with).
    """

    threshold: float = 0.8
    thresholds: dict[str, float] = field(default_factory=dict)
    smooth: float = 0.3
    refractory: float = 1.0
    ignore: tuple[str, ...] = BACKGROUND

    def __post_init__(self) -> None:
        for name, value in {"threshold": self.threshold, **{f"threshold of {k!r}": v
                                                            for k, v in self.thresholds.items()}}.items():
            if not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ConfigError(f"{name} must be a number in (0, 1], got {value!r}")
        for name in ("smooth", "refractory"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 60):
                raise ConfigError(f"{name} must be a number of seconds from 0 to 60, got {value!r}")


class Detector:
    """Turns ``(times, probabilities)`` of consecutive windows into :class:`Detection` s, across calls.

    Args:
        labels: class names in the model's output order.
        config: threshold, smoothing and refractory time.
        hop_seconds: time between consecutive windows.
        window_seconds: length of the audio window each posterior describes.
    """

    def __init__(self, labels: list[str], config: DetectorConfig, hop_seconds: float, window_seconds: float):
        unknown = sorted(set(config.thresholds) - set(labels))
        if unknown:
            raise ConfigError(f"thresholds name classes the model lacks: {', '.join(unknown)}; "
                              f"its classes: {', '.join(labels)}")
        self.labels, self.config, self.window_seconds = list(labels), config, window_seconds
        self.targets = np.array([i for i, label in enumerate(labels) if label not in config.ignore])
        if not len(self.targets):
            raise ConfigError(f"every class of the model is ignored ({', '.join(labels)}): nothing to detect")
        self.threshold = np.array([config.thresholds.get(labels[i], config.threshold) for i in self.targets])
        self.span = max(1, int(round(config.smooth / hop_seconds)))
        self.reset()

    def reset(self) -> None:
        """Forget the posteriors and the last detection (a new stream starts)."""
        self._recent: deque[np.ndarray] = deque(maxlen=self.span)
        self._sum = np.zeros(len(self.targets))
        self._quiet_until = -math.inf

    def smoothed(self, probabilities: np.ndarray) -> np.ndarray:
        """Moving mean of ``(windows, classes)`` posteriors over the smoothing span, as :meth:`update`
        sees them from a fresh start: ``(windows, targets)`` for the target classes."""
        p = np.asarray(probabilities, dtype=np.float64)[:, self.targets]
        cumulative = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
        ends = np.arange(1, len(p) + 1)
        starts = np.maximum(0, ends - self.span)
        return (cumulative[ends] - cumulative[starts]) / (ends - starts)[:, None]

    def detection(self, time: float, target: int, score: float) -> Detection:
        """The detection of target class ``target`` (an index into the targets) by the window ending at ``time``."""
        return Detection(round(float(time) - self.window_seconds, 6), round(float(time), 6),
                         self.labels[self.targets[target]], float(score))

    def update(self, times: np.ndarray, probabilities: np.ndarray) -> list[Detection]:
        """Feed the posteriors ``(windows, classes)`` of windows ending at ``times`` ``(windows,)``."""
        detections = []
        for t, p in zip(np.asarray(times, dtype=np.float64), np.asarray(probabilities, dtype=np.float64)):
            p = p[self.targets]
            if len(self._recent) == self.span:
                self._sum -= self._recent[0]
            self._recent.append(p)
            self._sum += p
            if t < self._quiet_until:
                continue
            mean = self._sum / len(self._recent)
            passing = mean >= self.threshold
            if passing.any():
                best = int(np.argmax(np.where(passing, mean, -1.0)))
                detections.append(self.detection(t, best, mean[best]))
                self._quiet_until = t + self.config.refractory
        return detections


def detect_along(labels: list[str], centres: np.ndarray, probabilities: np.ndarray, window_seconds: float,
                 config: DetectorConfig | None = None) -> list[Detection]:
    """Detections from the posteriors of windows centred at ``centres`` ``(windows,)`` (evenly spaced, as
    :meth:`~sonogram.inference.predictor.Predictor.frame_probabilities` gives them) along a file.

    As in ``sonogram listen``, windows start where the audio does (those reaching before it, into
    padding, are skipped) and run on past its end into half a window of padding. A model without
    background classes gives none: it names a word everywhere, so its "detections" would mark every
    second of the file.
    """
    centres = np.asarray(centres, dtype=np.float64)
    inside = centres >= window_seconds / 2 - 1e-9
    if not any(label in BACKGROUND for label in labels) or not inside.any():
        return []
    hop = float(centres[1] - centres[0]) if len(centres) > 1 else window_seconds
    detector = Detector(labels, config or DetectorConfig(), hop, window_seconds)
    return detector.update(centres[inside] + window_seconds / 2, np.asarray(probabilities)[inside])


def sweep_thresholds(detector: Detector, times: np.ndarray, probabilities: np.ndarray,
                     thresholds: list[float]) -> list[list[Detection]]:
    """For each global threshold, the detections a fresh ``detector`` with that threshold (and no
    per-class ones) would give on posteriors ``(windows, classes)`` of windows ending at ``times``.

    Equal to :meth:`Detector.update` threshold by threshold, but the smoothing is done once, and only the
    windows that pass are visited: a DET curve over an hour of posteriors takes a fraction of a second.
    """
    times = np.asarray(times, dtype=np.float64)
    smoothed = detector.smoothed(probabilities)
    best = smoothed.argmax(axis=1)
    top = smoothed[np.arange(len(smoothed)), best]
    curves = []
    for threshold in thresholds:
        found, quiet_until = [], -math.inf
        for i in np.flatnonzero(top >= threshold):
            if times[i] < quiet_until:
                continue
            found.append(detector.detection(times[i], best[i], top[i]))
            quiet_until = times[i] + detector.config.refractory
        curves.append(found)
    return curves
