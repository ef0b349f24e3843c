"""Score a stream of audio as it arrives: the window the network takes, ending at every hop.

Two engines give the same posteriors:

* ``frames`` (a run whose front-end starts with a framed layer: STFT, mel, log-mel, MFCC): the
  layer's frame-by-frame part (:meth:`~sonogram.features.base.FrontendLayer.frame_part`) is computed
  once per stream frame and cached; each window is assembled from the cached frames, plus its few
  edge frames computed again with the window's own padding, so it equals the offline features of
  that window. The rest of the front-end (per-window floors and normalisation) and the model run
  per window. A 100 ms hop of a 1 s window reuses about nine tenths of the front-end's work.
* ``embeddings`` (a run on Google's speech_embedding node): each mel frame and each 80 ms embedding
  of the stream is computed once and a window is the last embeddings of a ring
  (:mod:`sonogram.inference.embedding_stream`); a hop costs eight frames and one embedding.
* ``windows`` (everything else: waveform or whole-clip FFT front-ends, decimation, exported ONNX
  models): every window goes through the whole network.

Windows end at ``window, window + hop, window + 2 hop, ...`` samples; a posterior's time is its
window's end, in seconds from the stream's start.

Example:
    >>> from sonogram.network.design import DesignConfig, build_network
    >>> net = build_network(DesignConfig(sample_rate=8000, num_samples=8000, num_classes=3,
    ...     frontend=[{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 20}], model={"name": "cnn"}))
    >>> stream = StreamingClassifier.from_network(net, ["_silence_", "a", "b"], hop_seconds=0.1)
    >>> stream.engine, stream.push(np.zeros(12000, np.float32))[0].tolist()
    ('frames', [1.0, 1.1, 1.2, 1.3, 1.4, 1.5])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sonogram.errors import AudioError, ConfigError
from sonogram.inference.scorers import TorchScorer, frozen_for_inference, is_onnx, open_model

ScoreFn = Callable[[np.ndarray], np.ndarray]  # (windows, num_samples) -> (windows, classes) probabilities
BATCH = 256  # windows scored at once
ENGINES = ("auto", "frames", "embeddings", "windows")


class StreamingClassifier:
    """Posteriors of the windows ending at each hop of a stream fed piece by piece with :meth:`push`.

    Build it with :meth:`open` (a run folder or ``MODEL.onnx``), :meth:`from_network` or
    :meth:`from_scorer`. ``hop_seconds`` is rounded to whole front-end frames on the frames engine and
    to whole 80 ms steps on the embeddings engine.
    """

    def __init__(self, labels: list[str], sample_rate: int, num_samples: int, hop: int, engine: str,
                 scorer: ScoreFn | None = None, network=None, note: str | None = None):
        self.labels, self.sample_rate, self.num_samples, self.hop = list(labels), sample_rate, num_samples, hop
        self.engine, self.note = engine, note
        self._scorer, self._network = scorer, network
        if engine == "frames":
            self._frames = _FrameCache(network, num_samples)
        elif engine == "embeddings":
            from sonogram.inference.embedding_stream import EmbeddingRing  # torch: a run folder's engine

            self._ring = EmbeddingRing(network, num_samples)
        self.reset()

    # ----------------------------------------------------------------------------------- building
    @classmethod
    def open(cls, path: str | Path, hop_seconds: float = 0.1, engine: str = "auto",
             threads: int = 0) -> StreamingClassifier:
        """A run folder (torch; the ``frames`` or ``embeddings`` engine where the front-end allows) or
        ``MODEL.onnx`` (``windows``)."""
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if is_onnx(path) and engine in ("frames", "embeddings"):
            raise ConfigError(f"an ONNX model runs whole windows (engine windows); the {engine} engine needs a "
                              f"run folder")
        model = open_model(path, threads=threads)
        if isinstance(model, TorchScorer):
            return cls.from_network(model.network, model.labels, hop_seconds, engine)
        return cls.from_scorer(model.probabilities, model.labels, model.sample_rate, model.num_samples, hop_seconds)

    @classmethod
    def from_network(cls, network, labels: list[str], hop_seconds: float = 0.1,
                     engine: str = "auto") -> StreamingClassifier:
        """A :class:`~sonogram.network.design.Network` on torch."""
        from sonogram.inference.embedding_stream import EmbeddingRing, streams_embeddings

        design = network.design
        network = network.eval()
        first = network.frontend[0]
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        _check_hop(hop_seconds)
        if streams_embeddings(first) and engine in ("auto", "embeddings"):
            steps = max(1, int(round(hop_seconds * design.sample_rate / EmbeddingRing.hop)))
            return cls(labels, design.sample_rate, design.num_samples, EmbeddingRing.hop * steps, "embeddings",
                       network=network)
        if engine == "embeddings":
            raise ConfigError("the embeddings engine streams a network whose front-end starts with "
                              "{name: pretrained, model: speech-embedding}")
        why = None if first.streams_by_frame else _why_whole(first)
        if why is None and _interior(first.frame_geometry, design.num_samples)[1] <= 0:
            why = "its frames are wider than the window"
        if engine == "frames" and why:
            raise ConfigError(f"the frames engine cannot stream this front-end: {why}")
        if engine == "windows" or why:
            hop = max(1, int(round(hop_seconds * design.sample_rate)))
            scorer = TorchScorer.from_network(network, labels).frozen()
            note = f"every window computed whole: {why}" if why else None
            return cls(labels, design.sample_rate, design.num_samples, hop, "windows", scorer=scorer.probabilities,
                       note=note)
        frame_hop = first.frame_geometry.hop
        hop = frame_hop * max(1, int(round(hop_seconds * design.sample_rate / frame_hop)))
        return cls(labels, design.sample_rate, design.num_samples, hop, "frames", network=network)

    @classmethod
    def from_scorer(cls, scorer: ScoreFn, labels: list[str], sample_rate: int, num_samples: int,
                    hop_seconds: float = 0.1) -> StreamingClassifier:
        """Any function from ``(windows, num_samples)`` waveforms to ``(windows, classes)`` probabilities."""
        _check_hop(hop_seconds)
        return cls(labels, sample_rate, num_samples, max(1, int(round(hop_seconds * sample_rate))), "windows",
                   scorer=scorer)

    # ----------------------------------------------------------------------------------- streaming
    @property
    def hop_seconds(self) -> float:
        return self.hop / self.sample_rate

    @property
    def window_seconds(self) -> float:
        return self.num_samples / self.sample_rate

    def reset(self) -> None:
        """Start a new stream: forget the samples and frames held, and the timing totals."""
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # stream index of _buffer[0]
        self._next_end = self.num_samples  # stream index where the next window ends
        self.windows_scored, self.compute_seconds, self.samples_seen = 0, 0.0, 0
        if self.engine == "frames":
            self._frames.reset()
        elif self.engine == "embeddings":
            self._ring.reset()

    @property
    def real_time_factor(self) -> float:
        """Compute time over audio time, so far (under 1: faster than real time)."""
        return self.compute_seconds / max(self.samples_seen / self.sample_rate, 1e-12)

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed mono samples at the model's rate; returns the end times ``(windows,)`` in seconds and the
        posteriors ``(windows, classes)`` of the windows completed by them (none while the first fills)."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise AudioError(f"a stream takes mono samples (a 1-D array), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise AudioError("the stream holds NaN or inf samples")
        started = time.perf_counter()
        self._buffer = np.concatenate([self._buffer, samples])
        self.samples_seen += len(samples)
        total = self._offset + len(self._buffer)
        count = 0 if total < self._next_end else (total - self._next_end) // self.hop + 1
        ends = self._next_end + self.hop * np.arange(count)
        scored = [np.zeros((0, len(self.labels)), np.float32)]
        view = np.lib.stride_tricks.sliding_window_view(self._buffer, self.num_samples) if count else None
        for block in range(0, count, BATCH):  # a long push (a whole file) is scored BATCH windows at a time
            starts = ends[block:block + BATCH] - self.num_samples
            windows = view[starts - self._offset]
            if self.engine == "frames":
                scored.append(self._frames.score(self._buffer, self._offset, total, starts, windows))
            elif self.engine == "embeddings":
                scored.append(self._ring.score(self._buffer, self._offset, total, starts))
            else:
                scored.append(self._scorer(windows))
        probabilities = np.concatenate(scored)
        if count:
            self._next_end = int(ends[-1]) + self.hop
        keep = self._next_end - self.num_samples
        if self.engine == "frames":
            keep = min(keep, self._frames.first_sample_needed)
        elif self.engine == "embeddings":
            keep = min(keep, self._ring.first_sample_needed)
        if keep > self._offset:
            self._buffer = self._buffer[keep - self._offset:]
            self._offset = keep
        self.windows_scored += count
        self.compute_seconds += time.perf_counter() - started
        return ends / self.sample_rate, probabilities

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End the stream with half a window of silence, so its last half-second is seen mid-window."""
        return self.push(np.zeros(self.num_samples // 2 + self.hop - 1, np.float32))


def _check_hop(hop_seconds: float) -> None:
    if not (isinstance(hop_seconds, (int, float)) and math.isfinite(hop_seconds) and 0.001 <= hop_seconds <= 10):
        raise ConfigError(f"hop must be from 0.001 to 10 seconds, got {hop_seconds!r}")


def _why_whole(layer) -> str:
    """Why a first front-end layer cannot stream frame by frame (it is then run whole for every window)."""
    name = type(layer).__name__
    if layer.takes != "waveform" or layer.geometry is None:
        return f"the first front-end layer ({name}) does not frame the waveform"
    return f"the first front-end layer ({name}) uses statistics of the whole clip"


def _interior(geometry, num_samples: int) -> tuple[int, int]:
    """Window frames ``[first, last)`` that see no padding: the ones a stream's frames can stand in for."""
    left = geometry.pad + (geometry.window // 2 if geometry.center else 0)
    first = -(-left // geometry.hop)
    last = (num_samples + left - geometry.window) // geometry.hop + 1
    return first, last - first


class _FrameCache:
    """The frames of a stream, computed once by the first layer's ``frame_part``; windows are built from them.

    Stream frame ``k`` covers samples ``[k hop - left, k hop - left + window)``. A window starting at
    sample ``a`` (a multiple of the frame hop) holds stream frames ``a / hop + j`` for its interior
    frames ``j``; its edge frames, which see the window's own padding offline, are computed again from
    the window's samples.
    """

    def __init__(self, network, num_samples: int):
        import torch

        self.network, self.layer, self.num_samples = network, network.frontend[0], num_samples
        self.device = next(network.parameters()).device
        geometry = self.layer.frame_geometry
        self.hop, self.span = geometry.hop, geometry.window
        self.left = geometry.pad + (geometry.window // 2 if geometry.center else 0)
        self.first, count = _interior(geometry, num_samples)
        self.last = self.first + count  # window frames [first, last) come from the cache
        with torch.inference_mode():
            example = torch.zeros(1, num_samples, device=self.device)
            self.frames_per_window = self.layer.frame_part(example).shape[-1]
            self.model = frozen_for_inference(network.model, network.features(example))
        # The edge frames come from one frame_part call over the window's head and tail joined: the head
        # ends on a whole number of hops so the tail's frames stay on the grid; frames across the join
        # are dropped. Tail frame `first` is window frame `last`.
        tail_start = max(0, self.last - self.first) * self.hop
        self.head = min(-(-(self.first * self.hop - self.left + self.span) // self.hop) * self.hop, tail_start)
        self.tail_start = tail_start
        join = self.head // self.hop + (self.last - tail_start // self.hop)
        self.right_edges = self.frames_per_window - self.last
        self.edge_index = list(range(self.first)) + list(range(join, join + self.right_edges))
        self.reset()

    def reset(self) -> None:
        self.cache = None  # (C, F, frames) of stream frames [cache_start, cache_start + frames)
        self.cache_start = self.next_frame = self.first

    @property
    def first_sample_needed(self) -> int:
        """Stream samples before this index are needed neither by the next frames nor by the next window."""
        return max(0, (self.next_frame - self.first) * self.hop)

    def _extend(self, buffer: np.ndarray, offset: int, total: int) -> None:
        """Compute the stream frames that the samples up to ``total`` complete."""
        import torch

        last = (total - self.span + self.left) // self.hop
        if last < self.next_frame:
            return
        start = (self.next_frame - self.first) * self.hop
        piece = torch.from_numpy(buffer[start - offset:last * self.hop - self.left + self.span - offset]).to(self.device)
        new = self.layer.frame_part(piece[None])[0][..., self.first:self.first + last - self.next_frame + 1]
        self.cache = new if self.cache is None else torch.cat([self.cache, new], dim=-1)
        self.next_frame = last + 1

    def score(self, buffer: np.ndarray, offset: int, total: int, starts: np.ndarray,
              windows: np.ndarray) -> np.ndarray:
        """Posteriors ``(windows, classes)`` of the windows starting at stream samples ``starts``."""
        import torch

        with torch.inference_mode():
            self._extend(buffer, offset, total)
            first_frames = starts // self.hop + self.first - self.cache_start
            index = torch.from_numpy(first_frames[:, None] + np.arange(self.last - self.first)[None]).to(self.device)
            features = self.cache[..., index].movedim(-2, 0)  # (windows, C, F, interior frames)
            if self.edge_index:
                ends = np.concatenate([windows[:, :self.head], windows[:, self.tail_start:]], axis=1)
                edges = self.layer.frame_part(torch.from_numpy(ends).to(self.device))[..., self.edge_index]
                features = torch.cat([edges[..., :self.first], features, edges[..., self.first:]], dim=-1)
            features = self.layer.window_part(features)
            for layer in list(self.network.frontend)[1:]:
                features = layer(features)
            probabilities = self.model(features).softmax(-1).cpu().numpy()
        # Frames before the next window's first interior frame are no longer needed.
        drop = int(starts[-1]) // self.hop + self.first + 1 - self.cache_start
        drop = min(drop, self.cache.shape[-1])
        if drop > 0:
            self.cache = self.cache[..., drop:]
            self.cache_start += drop
        return probabilities
