"""The ``embeddings`` streaming engine: a network on Google's speech_embedding, each mel frame and each
embedding of the stream computed once.

The node's embeddings slide over the mel frames every 8 frames (80 ms), so with a hop of whole 80 ms
steps the window starting at stream sample ``1280 a`` holds stream embeddings ``a, a + 1, ...,
a + 15``: a hop adds eight mel frames and one embedding, and the window is the last 16 of a ring.

One thing ties an embedding to its window: offline, the node floors the mel 80 dB under the peak of
the whole window. Each stream frame keeps its decibels before the floor; each window's peak comes from
them, and an embedding is reused only where that floor leaves its 76 frames as they were (none of
them under either window's floor) or the peak is the one it was computed with; otherwise it is
computed again for this window. Speech over any noise never reaches the floor, so one embedding a hop
is the rule and the posteriors equal the offline window's (a test checks both). Digital silence
(exact zeros) is where the floor moves and embeddings are recomputed.

``StreamingClassifier.from_network`` picks this engine for such a network; its hop is whole steps of

    >>> EmbeddingRing.hop               # samples between window starts: 80 ms at 16 kHz
    1280
"""

from __future__ import annotations

import numpy as np
import torch

from sonogram.inference.scorers import frozen_for_inference
from sonogram.models import speech_embedding as se


def streams_embeddings(layer) -> bool:
    """True for a front-end layer this engine can stream: the speech-embedding pretrained node."""
    return getattr(layer, "model_name", None) == "speech-embedding"


class EmbeddingRing:
    """Mel frames and embeddings of one stream, each computed once; posteriors of windows built from them.

    Stream frame ``f`` covers samples ``[160 f, 160 f + 512)``; stream embedding ``m`` reads frames
    ``[8 m, 8 m + 76)``. A window of ``num_samples`` starting at sample ``1280 a`` (``hop``, 80 ms,
    divides every window start) has ``frames_per_window`` frames ``8 a + i`` and ``count`` embeddings
    ``a + j``.
    """

    hop = se.HOP * se.WINDOW_HOP  # 1280 samples, 80 ms

    def __init__(self, network, num_samples: int):
        self.network, self.node = network, network.frontend[0]
        self.device = next(network.parameters()).device
        self.frames_per_window = 1 + (num_samples - se.N_FFT) // se.HOP
        self.count = 1 + (self.frames_per_window - se.WINDOW_FRAMES) // se.WINDOW_HOP
        with torch.inference_mode():
            example = torch.zeros(1, num_samples, device=self.device)
            self.model = frozen_for_inference(network.model, network.features(example))
        self.reset()

    def reset(self) -> None:
        self.db = torch.zeros(0, se.N_MELS, device=self.device)  # stream frames [frame_start, next_frame)
        self.frame_start = self.next_frame = 0
        self.embeddings: dict[int, tuple[float, torch.Tensor]] = {}   # m -> (peak it was floored at, (96,))
        self.computed = 0  # embeddings computed (more than one a hop only where the floor moved)

    @property
    def first_sample_needed(self) -> int:
        """Stream samples before this index are needed by no frame still to come."""
        return self.next_frame * se.HOP

    def _extend(self, buffer: np.ndarray, offset: int, total: int) -> None:
        """Compute the decibels of the stream frames the samples up to ``total`` complete."""
        last = (total - se.N_FFT) // se.HOP
        if last < self.next_frame:
            return
        start = self.next_frame * se.HOP
        piece = torch.from_numpy(buffer[start - offset:last * se.HOP + se.N_FFT - offset]).to(self.device)
        self.db = torch.cat([self.db, self.node.fbank.decibels(piece[None])[0]])
        self.next_frame = last + 1

    def _features(self, start: int) -> torch.Tensor:
        """The node's output for the window starting at stream sample ``start``: ``(1, 96, count)``."""
        first = start // se.HOP - self.frame_start
        window = self.db[first:first + self.frames_per_window]
        peak = float(window.amax())
        floor = peak - se.TOP_DB
        a = start // self.hop
        redo = []
        for j in range(self.count):
            held = self.embeddings.get(a + j)
            if held is not None and held[0] != peak:
                frames = window[se.WINDOW_HOP * j:se.WINDOW_HOP * j + se.WINDOW_FRAMES]
                if float(frames.amin()) < max(floor, held[0] - se.TOP_DB):  # a floor changes these frames
                    held = None
            if held is None:
                redo.append(j)
        if redo:
            scaled = se.floored(window, torch.tensor(peak, device=self.device))
            windows = torch.stack([scaled[se.WINDOW_HOP * j:se.WINDOW_HOP * j + se.WINDOW_FRAMES] for j in redo])
            new = self.node.net(windows[:, None])
            for j, embedding in zip(redo, new):
                self.embeddings[a + j] = (peak, embedding)
            self.computed += len(redo)
        return torch.stack([self.embeddings[a + j][1] for j in range(self.count)], dim=1)[None]

    def score(self, buffer: np.ndarray, offset: int, total: int, starts: np.ndarray) -> np.ndarray:
        """Posteriors ``(windows, classes)`` of the windows starting at stream samples ``starts``."""
        with torch.inference_mode():
            self._extend(buffer, offset, total)
            features = torch.stack([self._features(int(start)) for start in starts])   # (windows, 1, 96, count)
            for layer in list(self.network.frontend)[1:]:
                features = layer(features)
            probabilities = self.model(features).softmax(-1).cpu().numpy()
        # what the next window (one hop on) no longer reads
        next_a = int(starts[-1]) // self.hop + 1
        for m in [m for m in self.embeddings if m < next_a]:
            del self.embeddings[m]
        drop = next_a * se.WINDOW_HOP - self.frame_start
        if drop > 0:
            self.db = self.db[drop:]
            self.frame_start += drop
        return probabilities
